"""Named sender profiles (data/profiles.yaml): severities per finding code."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

from auditor.errors import CatalogueError, ProfileError
from auditor.findings import Finding, Severity, catalogue, load_data_file

__all__ = ["DEFAULT_PROFILE", "Profile", "get_profile", "profile_names"]

DEFAULT_PROFILE = "bulk-sender-2024"


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    description: str
    severities: Mapping[str, Severity]
    sources: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    not_checked_here: tuple[str, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)

    def apply(self, findings: Iterable[Finding]) -> tuple[Finding, ...]:
        """The findings with this profile's severity for every code it names."""
        return tuple(
            f.with_severity(self.severities[f.code]) if f.code in self.severities else f
            for f in findings
        )


@cache
def _profiles() -> dict[str, Profile]:
    raw = load_data_file("profiles.yaml")
    if not isinstance(raw, dict):
        raise CatalogueError("auditor/data/profiles.yaml: expected a mapping of profiles")
    codes = catalogue()
    profiles = {}
    for name, entry in raw.items():
        where = f"auditor/data/profiles.yaml: {name}"
        try:
            severities = {}
            for code, severity in (entry.get("severities") or {}).items():
                if code not in codes:
                    raise CatalogueError(f"{where}: unknown finding code {code}")
                severities[code] = Severity(severity)
            profiles[name] = Profile(
                name=name,
                title=str(entry["title"]),
                description=str(entry.get("description", "")),
                severities=severities,
                sources=tuple(entry.get("sources") or ()),
                requires=tuple(entry.get("requires") or ()),
                not_checked_here=tuple(entry.get("not_checked_here") or ()),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise CatalogueError(f"{where}: {error}") from error
    return profiles


def profile_names() -> list[str]:
    return sorted(_profiles())


def get_profile(name: str) -> Profile:
    """The profile called ``name``; raises :class:`ProfileError` if unknown."""
    try:
        return _profiles()[name]
    except KeyError:
        raise ProfileError(
            f"unknown sender profile {name!r}; known: {', '.join(profile_names())}"
        ) from None
