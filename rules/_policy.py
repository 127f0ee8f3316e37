"""The scoring policy: thresholds and limits, read from YAML (``rules/policy.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType

import yaml

DEFAULT_POLICY_PATH = Path(__file__).with_name("policy.yaml")


class PolicyError(ValueError):
    """A policy file is unreadable or holds an invalid value; the message names the key."""


@dataclass(frozen=True)
class ScoringPolicy:
    """Verdict thresholds, scan limits and per-rule overrides.

    ``block`` when score >= ``threshold``; ``warn`` when score >= ``warn_at``.
    ``weights`` replace pack weights by rule id; ``disabled_rules`` never hit.
    """

    threshold: float = 5.0
    warn_at: float = 3.0
    max_html_chars: int = 1_000_000
    max_scan_chars: int = 100_000
    min_language_share: float = 0.1
    min_language_chars: int = 300
    disabled_rules: frozenset[str] = frozenset()
    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not 0 < self.warn_at <= self.threshold:
            raise PolicyError(f"warn_at must be > 0 and <= threshold "
                              f"({self.warn_at} vs {self.threshold})")
        if self.max_html_chars < 1000 or self.max_scan_chars < 1000:
            raise PolicyError("max_html_chars and max_scan_chars must be at least 1000")
        if not 0 < self.min_language_share <= 1:
            raise PolicyError("min_language_share must be in (0, 1]")

    def weight_of(self, rule_id: str, pack_weight: float) -> float:
        return self.weights.get(rule_id, pack_weight)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> ScoringPolicy:
        """Build a policy from a mapping (e.g. parsed YAML); unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise PolicyError(f"unknown policy keys: {', '.join(sorted(unknown))}")
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            try:
                if f.name == "disabled_rules":
                    values[f.name] = frozenset(str(v) for v in value or ())  # type: ignore[union-attr]
                elif f.name == "weights":
                    values[f.name] = MappingProxyType(
                        {str(k): float(v) for k, v in dict(value or {}).items()})  # type: ignore[call-overload]
                elif f.name.startswith(("max_", "min_language_chars")):
                    values[f.name] = int(value)  # type: ignore[call-overload]
                else:
                    values[f.name] = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError) as error:
                raise PolicyError(f"policy key {f.name}: invalid value {value!r}") from error
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path | str = DEFAULT_POLICY_PATH) -> ScoringPolicy:
        """Read a policy YAML file."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise PolicyError(f"{path}: cannot read policy: {error}") from error
        if not isinstance(data, dict):
            raise PolicyError(f"{path}: a policy must be a mapping")
        try:
            return cls.from_mapping(data)
        except PolicyError as error:
            raise PolicyError(f"{path}: {error}") from error
