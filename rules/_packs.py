"""Rule packs: YAML files under ``rules/packs/``, validated when loaded.

A pack is one file per language (``en.yaml``, ``de.yaml`` ...) or the
language-neutral ``structure.yaml``. Every rule is data: id, description, kind,
languages, patterns, weight, remediation. Loading refuses a pack that has
unknown keys, a pattern that does not compile, a structural check the engine
does not know, or an id used twice; the error names the file and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from spacy.matcher import Matcher
from spacy.vocab import Vocab

RuleKind = Literal["phrase", "token", "regex", "structure", "header", "uri"]
RULE_KINDS: frozenset[str] = frozenset({"phrase", "token", "regex", "structure", "header", "uri"})
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "ru", "zh", "ja", "ko")
ANY_LANGUAGE = "*"
PARTS: frozenset[str] = frozenset({"subject", "body"})

PACKS_DIR = Path(__file__).with_name("packs")

# libyaml's safe loader parses the packs ten times faster than the pure-Python one
# (a third of a second at start-up); both build plain data only.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_RULE_ID = re.compile(r"^[A-Z][A-Z0-9_]{2,63}$")
_PACK_KEYS = frozenset({"pack", "language", "description", "rules"})
_REQUIRED_RULE_KEYS = ("id", "description", "kind", "languages", "weight", "remediation")
_OPTIONAL_RULE_KEYS = frozenset({"patterns", "parts", "case_sensitive", "check", "params",
                                 "header", "domains"})
_RULE_KEYS = frozenset(_REQUIRED_RULE_KEYS) | _OPTIONAL_RULE_KEYS
# Keys each kind may use besides the common ones; anything else is a mistake in the pack.
_KIND_KEYS: dict[str, frozenset[str]] = {
    "phrase": frozenset({"patterns", "parts"}),
    "token": frozenset({"patterns", "parts"}),
    "regex": frozenset({"patterns", "parts", "case_sensitive"}),
    "structure": frozenset({"check", "params"}),
    "header": frozenset({"patterns", "header", "case_sensitive"}),
    "uri": frozenset({"patterns", "domains"}),
}
_TOKEN_ATTRS = frozenset({
    "ORTH", "TEXT", "LOWER", "NORM", "LENGTH", "IS_ALPHA", "IS_ASCII", "IS_DIGIT",
    "IS_LOWER", "IS_UPPER", "IS_TITLE", "IS_PUNCT", "IS_SPACE", "IS_STOP", "LIKE_NUM",
    "LIKE_URL", "LIKE_EMAIL", "SHAPE", "PREFIX", "SUFFIX", "OP", "IS_CURRENCY",
})
_DOMAIN = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z]{2,}$")


class PackError(ValueError):
    """A rule pack is invalid; the message names the file and, where known, the rule."""

    def __init__(self, path: Path | str, message: str, rule: str | None = None) -> None:
        self.path = str(path)
        self.rule = rule
        where = f"{self.path}: rule {rule}" if rule else self.path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Rule:
    """One validated rule. ``patterns`` keep the pack's form: strings, or token
    patterns (lists of token dicts) for ``token`` rules."""

    id: str
    description: str
    kind: RuleKind
    languages: tuple[str, ...]
    weight: float
    remediation: str
    pack: str
    patterns: tuple[Any, ...] = ()
    parts: frozenset[str] = PARTS
    case_sensitive: bool = False
    check: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    header: str | None = None
    domains: tuple[str, ...] = ()

    def applies_to(self, language: str) -> bool:
        return ANY_LANGUAGE in self.languages or language in self.languages


@dataclass(frozen=True)
class Pack:
    """One pack file: its name, language (``*`` for language-neutral) and rules."""

    name: str
    language: str
    description: str
    path: Path
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class RuleSet:
    """All loaded packs, with rules indexed by id."""

    packs: tuple[Pack, ...]
    rules: Mapping[str, Rule]

    def of_kind(self, kind: str) -> list[Rule]:
        return [rule for rule in self.rules.values() if rule.kind == kind]

    def count_by_pack(self) -> dict[str, int]:
        return {pack.name: len(pack.rules) for pack in self.packs}


def load_packs(
    directory: Path | str | None = None,
    *,
    structure_checks: Mapping[str, tuple[object, Callable[[Mapping[str, Any]], None]]]
    | None = None,
) -> RuleSet:
    """Load and validate every ``*.yaml`` pack in ``directory`` (default: the
    packaged ``rules/packs``).

    ``structure_checks`` maps the check names the engine implements to (check,
    params validator); a structure rule naming another check, or with params its
    validator refuses, is refused. Raises :class:`PackError` on the first
    invalid pack or rule, and on an id defined twice (in one file or across files).
    """
    if structure_checks is None:
        from rules._structure import STRUCTURE_CHECKS

        structure_checks = STRUCTURE_CHECKS
    known_checks = structure_checks
    root = Path(directory) if directory is not None else PACKS_DIR
    paths = sorted(root.glob("*.yaml"))
    if not paths:
        raise PackError(root, "no rule packs (*.yaml) found")
    packs: list[Pack] = []
    seen: dict[str, Path] = {}
    for path in paths:
        pack = _load_pack(path, known_checks)
        for rule in pack.rules:
            if rule.id in seen:
                raise PackError(path, f"duplicate rule id (already defined in {seen[rule.id]})",
                                rule.id)
            seen[rule.id] = path
        packs.append(pack)
    rules = {rule.id: rule for pack in packs for rule in pack.rules}
    return RuleSet(packs=tuple(packs), rules=rules)


_Checks = Mapping[str, tuple[object, Callable[[Mapping[str, Any]], None]]]


def _load_pack(path: Path, known_checks: _Checks) -> Pack:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)  # noqa: S506
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PackError(path, f"cannot read pack: {error}") from error
    if not isinstance(document, dict):
        raise PackError(path, "a pack must be a mapping with 'pack', 'language' and 'rules'")
    unknown = set(document) - _PACK_KEYS
    if unknown:
        raise PackError(path, f"unknown pack keys: {', '.join(sorted(unknown))}")
    name = document.get("pack")
    language = document.get("language")
    if not isinstance(name, str) or not name:
        raise PackError(path, "'pack' must be a non-empty string")
    if language != ANY_LANGUAGE and language not in SUPPORTED_LANGUAGES:
        raise PackError(path, f"'language' must be one of {SUPPORTED_LANGUAGES} or '*', "
                              f"not {language!r}")
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise PackError(path, "'rules' must be a non-empty list")
    rules: list[Rule] = []
    ids: set[str] = set()
    for index, raw in enumerate(raw_rules):
        rule = _load_rule(path, name, index, raw, known_checks)
        if rule.id in ids:
            raise PackError(path, "duplicate rule id in this pack", rule.id)
        ids.add(rule.id)
        rules.append(rule)
    return Pack(name=name, language=language, description=str(document.get("description", "")),
                path=path, rules=tuple(rules))


def _load_rule(path: Path, pack: str, index: int, raw: object,
               known_checks: _Checks) -> Rule:
    if not isinstance(raw, dict):
        raise PackError(path, f"rule #{index + 1} is not a mapping")
    rule_id = raw.get("id")
    label = rule_id if isinstance(rule_id, str) else f"#{index + 1}"
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        raise PackError(path, "id must be UPPER_CASE letters, digits and underscores", label)
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise PackError(path, f"unknown keys: {', '.join(sorted(unknown))}", rule_id)
    missing = [key for key in _REQUIRED_RULE_KEYS if key not in raw]
    if missing:
        raise PackError(path, f"missing keys: {', '.join(missing)}", rule_id)
    kind = raw["kind"]
    if kind not in RULE_KINDS:
        raise PackError(path, f"kind must be one of {sorted(RULE_KINDS)}, not {kind!r}", rule_id)
    misplaced = (set(raw) & _OPTIONAL_RULE_KEYS) - _KIND_KEYS[kind]
    if misplaced:
        raise PackError(path, f"keys not used by kind {kind}: {', '.join(sorted(misplaced))}",
                        rule_id)
    for key in ("description", "remediation"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise PackError(path, f"'{key}' must be a non-empty string", rule_id)
    weight = raw["weight"]
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not -20 <= weight <= 20:
        raise PackError(path, f"weight must be a number in [-20, 20], not {weight!r}", rule_id)
    languages = raw["languages"]
    if (not isinstance(languages, list) or not languages
            or any(lang != ANY_LANGUAGE and lang not in SUPPORTED_LANGUAGES
                   for lang in languages)):
        raise PackError(path, f"languages must be a list of {SUPPORTED_LANGUAGES} or ['*']",
                        rule_id)
    parts = raw.get("parts", sorted(PARTS))
    if not isinstance(parts, list) or not parts or not set(parts) <= PARTS:
        raise PackError(path, f"parts must be a non-empty list of {sorted(PARTS)}", rule_id)
    case_sensitive = raw.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise PackError(path, "case_sensitive must be true or false", rule_id)

    patterns: tuple[Any, ...] = ()
    check: str | None = None
    params: dict[str, Any] = {}
    header: str | None = None
    domains: tuple[str, ...] = ()
    if kind == "structure":
        check = raw.get("check")
        if check not in known_checks:
            raise PackError(path, f"unknown structural check {check!r}", rule_id)
        params = raw.get("params", {})
        if not isinstance(params, dict):
            raise PackError(path, "params must be a mapping", rule_id)
        try:
            known_checks[check][1](params)
        except ValueError as error:
            raise PackError(path, str(error), rule_id) from error
    else:
        patterns = _validate_patterns(path, rule_id, kind, raw.get("patterns"), case_sensitive,
                                      optional=kind == "uri")
    if kind == "header":
        header = raw.get("header")
        if not isinstance(header, str) or not re.fullmatch(r"[A-Za-z0-9-]+", header):
            raise PackError(path, "header rules need 'header': a header field name", rule_id)
    if kind == "uri":
        raw_domains = raw.get("domains", [])
        if (not isinstance(raw_domains, list)
                or any(not isinstance(d, str) or not _DOMAIN.match(d) for d in raw_domains)):
            raise PackError(path, "domains must be a list of lower-case host names", rule_id)
        domains = tuple(raw_domains)
        if not patterns and not domains:
            raise PackError(path, "uri rules need 'patterns' or 'domains'", rule_id)
    return Rule(id=rule_id, description=raw["description"].strip(), kind=kind,
                languages=tuple(languages), weight=float(weight),
                remediation=raw["remediation"].strip(), pack=pack, patterns=patterns,
                parts=frozenset(parts), case_sensitive=case_sensitive, check=check,
                params=params, header=header, domains=domains)


def _validate_patterns(path: Path, rule_id: str, kind: str, patterns: object,
                       case_sensitive: bool, *, optional: bool) -> tuple[Any, ...]:
    if patterns is None and optional:
        return ()
    if not isinstance(patterns, list) or not patterns:
        raise PackError(path, "patterns must be a non-empty list", rule_id)
    if kind == "token":
        for pattern in patterns:
            _validate_token_pattern(path, rule_id, pattern)
        _validate_with_spacy(path, rule_id, patterns)
        return tuple(patterns)
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip():
            raise PackError(path, f"pattern {pattern!r} must be a non-empty string", rule_id)
        if kind in ("regex", "header", "uri"):
            try:
                re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
            except re.error as error:
                raise PackError(path, f"bad regular expression {pattern!r}: {error}",
                                rule_id) from error
    if len(set(patterns)) != len(patterns):
        raise PackError(path, "patterns contain duplicates", rule_id)
    return tuple(patterns)


def _validate_token_pattern(path: Path, rule_id: str, pattern: object) -> None:
    if not isinstance(pattern, list) or not pattern:
        raise PackError(path, "a token pattern must be a non-empty list of token specs", rule_id)
    for spec in pattern:
        if not isinstance(spec, dict) or not spec:
            raise PackError(path, f"token spec {spec!r} must be a non-empty mapping", rule_id)
        bad = set(spec) - _TOKEN_ATTRS
        if bad:
            raise PackError(path, f"unknown token attributes: {', '.join(sorted(bad))}",
                            rule_id)
        for value in spec.values():
            if isinstance(value, dict) and "REGEX" in value:
                try:
                    re.compile(value["REGEX"])
                except (re.error, TypeError) as error:
                    raise PackError(path, f"bad REGEX {value['REGEX']!r}: {error}",
                                    rule_id) from error


def _validate_with_spacy(path: Path, rule_id: str, patterns: list[Any]) -> None:
    """spaCy's own schema check of token patterns (operators, value types)."""
    matcher = Matcher(Vocab(), validate=True)
    try:
        matcher.add(rule_id, patterns)
    except (ValueError, TypeError, KeyError) as error:
        detail = " ".join(str(error).split())
        raise PackError(path, f"invalid token pattern: {detail}", rule_id) from error
