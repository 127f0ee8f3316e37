"""Commercial-email law checks, interpreted from ``rules/jurisdictions/*.yaml``.

Each jurisdiction file names a law, the countries it covers (or ``"*"`` for all) and its
requirements. A requirement is one of three checks:

``elements`` (default)
    the body must contain every element of ``all_of`` and at least one of ``any_of``;
    elements are defined in ``_elements.yaml`` or in the jurisdiction file itself.
``subject_prefix``
    the subject (leading white space ignored) must start with ``pattern``; ``near_miss``
    recognises a wrong variant so the message can say so.
``send_window``
    the local send time in ``timezone`` must be outside [quiet_start, quiet_end).

Files are validated when loaded: unknown keys, bad regular expressions, unknown elements
or severities raise :class:`~rules._datafile.DataFileError` naming the file and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from selectolax.lexbor import LexborHTMLParser

from rules._datafile import DataFileError, load_mapping
from rules._prefilter import FilteredPattern
from rules.model import Finding, ParsedTemplate, Severity

JURISDICTIONS_DIR = Path(__file__).parent / "jurisdictions"
ELEMENTS_FILE = JURISDICTIONS_DIR / "_elements.yaml"

_JURISDICTION_KEYS = frozenset(
    {"id", "title", "law", "source", "countries", "elements", "requirements"}
)
_ELEMENT_KEYS = frozenset({"description", "text_patterns", "href_patterns", "link_text_patterns"})
_COMMON_REQUIREMENT_KEYS = frozenset({"code", "check", "severity", "message", "remediation"})
_CHECK_KEYS = {
    "elements": frozenset({"all_of", "any_of"}),
    "subject_prefix": frozenset({"pattern", "near_miss"}),
    "send_window": frozenset({"timezone", "quiet_start", "quiet_end"}),
}
_SEVERITIES: frozenset[str] = frozenset({"block", "warn", "info"})
_CODE = re.compile(r"[A-Z][A-Z0-9_]*")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")

# A URL or mail address in the plain-text part, and how far before it a link wording may be.
_TEXT_LINK = re.compile(
    r"(?:https?://|www\.)[^\s<>\"')]+|mailto:[^\s<>\"')]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
)
_LINK_TEXT_REACH = 120


@dataclass(frozen=True)
class Element:
    """Something a law requires in the message, and the patterns that reveal it."""

    name: str
    description: str
    text: tuple[FilteredPattern, ...] = ()
    href: tuple[re.Pattern[str], ...] = ()
    link_text: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class Requirement:
    code: str
    check: str
    severity: Severity
    message: str
    remediation: str
    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    near_miss: re.Pattern[str] | None = None
    timezone: ZoneInfo | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None


@dataclass(frozen=True)
class Jurisdiction:
    id: str
    title: str
    law: str
    source: str
    countries: frozenset[str] | None  # None: every country
    requirements: tuple[Requirement, ...]
    elements: Mapping[str, Element] = field(default_factory=dict)

    def covers(self, country: str) -> bool:
        return self.countries is None or country in self.countries


def _regex(path: Path, where: str, pattern: object) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise DataFileError(path, where, f"pattern must be a non-empty string, not {pattern!r}")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise DataFileError(path, where, f"bad regular expression {pattern!r}: {error}") from error


def _filtered(patterns: tuple[re.Pattern[str], ...]) -> tuple[FilteredPattern, ...]:
    return tuple(FilteredPattern.compile(p.pattern, p.flags) for p in patterns)


def _pattern_group(path: Path, where: str, raw: object) -> tuple[re.Pattern[str], ...]:
    """Patterns given as a list, or as a mapping of language/format -> list."""
    if raw is None:
        return ()
    groups: Iterable[tuple[str, object]]
    if isinstance(raw, list):
        groups = [("", raw)]
    elif isinstance(raw, dict):
        groups = raw.items()
    else:
        raise DataFileError(path, where, "patterns must be a list or a mapping of lists")
    compiled: list[re.Pattern[str]] = []
    for label, patterns in groups:
        if not isinstance(patterns, list):
            raise DataFileError(path, f"{where}.{label}", "must be a list of patterns")
        compiled.extend(_regex(path, f"{where}.{label}" if label else where, p) for p in patterns)
    return tuple(compiled)


def _load_elements(path: Path, raw: object) -> dict[str, Element]:
    if not isinstance(raw, dict):
        raise DataFileError(path, "elements", "must be a mapping of element name -> definition")
    elements: dict[str, Element] = {}
    for name, spec in raw.items():
        where = f"element {name!r}"
        if not isinstance(spec, dict):
            raise DataFileError(path, where, "must be a mapping")
        if unknown := set(spec) - _ELEMENT_KEYS:
            raise DataFileError(path, where, f"unknown keys {sorted(unknown)}")
        element = Element(
            name=str(name),
            description=str(spec.get("description") or name),
            text=_filtered(
                _pattern_group(path, f"{where} text_patterns", spec.get("text_patterns"))
            ),
            href=_pattern_group(path, f"{where} href_patterns", spec.get("href_patterns")),
            link_text=_pattern_group(
                path, f"{where} link_text_patterns", spec.get("link_text_patterns")
            ),
        )
        if not (element.text or element.href or element.link_text):
            raise DataFileError(path, where, "has no patterns")
        elements[element.name] = element
    return elements


def _clock(path: Path, where: str, raw: object) -> time:
    match = _HHMM.fullmatch(str(raw))
    if not match:
        raise DataFileError(path, where, f"expected HH:MM, not {raw!r}")
    return time(int(match.group(1)), int(match.group(2)))


def _load_requirement(
    path: Path, index: int, raw: object, known_elements: Mapping[str, Element]
) -> Requirement:
    if not isinstance(raw, dict):
        raise DataFileError(path, f"requirements[{index}]", "must be a mapping")
    code = raw.get("code")
    where = f"rule {code!r}" if code else f"requirements[{index}]"
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise DataFileError(path, where, "code must be UPPER_CASE letters, digits and underscores")
    check = raw.get("check", "elements")
    if check not in _CHECK_KEYS:
        raise DataFileError(
            path, where, f"check must be one of {sorted(_CHECK_KEYS)}, not {check!r}"
        )
    if unknown := set(raw) - _COMMON_REQUIREMENT_KEYS - _CHECK_KEYS[check]:
        raise DataFileError(path, where, f"unknown keys for check {check!r}: {sorted(unknown)}")
    severity = raw.get("severity")
    if severity not in _SEVERITIES:
        raise DataFileError(path, where, f"severity must be one of {sorted(_SEVERITIES)}")
    for key in ("message", "remediation"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise DataFileError(path, where, f"'{key}' must be a non-empty string")
    requirement = Requirement(
        code=code,
        check=check,
        severity=severity,
        message=raw["message"].strip(),
        remediation=raw["remediation"].strip(),
    )
    if check == "elements":
        all_of = tuple(raw.get("all_of") or ())
        any_of = tuple(raw.get("any_of") or ())
        if not all_of and not any_of:
            raise DataFileError(path, where, "needs 'all_of' or 'any_of'")
        for name in all_of + any_of:
            if name not in known_elements:
                raise DataFileError(path, where, f"unknown element {name!r}")
        return replace(requirement, all_of=all_of, any_of=any_of)
    if check == "subject_prefix":
        pattern = _regex(path, f"{where} pattern", raw.get("pattern"))
        near_miss = (
            _regex(path, f"{where} near_miss", raw["near_miss"]) if "near_miss" in raw else None
        )
        return replace(requirement, pattern=pattern, near_miss=near_miss)
    try:
        zone = ZoneInfo(str(raw.get("timezone")))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise DataFileError(path, where, f"unknown time zone {raw.get('timezone')!r}") from error
    return replace(
        requirement,
        timezone=zone,
        quiet_start=_clock(path, f"{where} quiet_start", raw.get("quiet_start")),
        quiet_end=_clock(path, f"{where} quiet_end", raw.get("quiet_end")),
    )


def _load_jurisdiction(path: Path, shared: Mapping[str, Element]) -> Jurisdiction:
    raw = load_mapping(path)
    if unknown := set(raw) - _JURISDICTION_KEYS:
        raise DataFileError(path, "top level", f"unknown keys {sorted(unknown)}")
    for key in ("id", "title", "law", "source"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise DataFileError(path, "top level", f"'{key}' must be a non-empty string")
    countries_raw = raw.get("countries")
    countries: frozenset[str] | None
    if countries_raw == "*":
        countries = None
    elif (
        isinstance(countries_raw, list)
        and countries_raw
        and all(isinstance(c, str) and re.fullmatch(r"[A-Z]{2}", c) for c in countries_raw)
    ):
        countries = frozenset(countries_raw)
    else:
        raise DataFileError(path, "countries", "must be '*' or a list of ISO 3166-1 alpha-2 codes")
    own = _load_elements(path, raw["elements"]) if "elements" in raw else {}
    if clash := set(own) & set(shared):
        raise DataFileError(path, "elements", f"redefines shared elements {sorted(clash)}")
    elements = {**shared, **own}
    requirements_raw = raw.get("requirements")
    if not isinstance(requirements_raw, list) or not requirements_raw:
        raise DataFileError(path, "requirements", "must be a non-empty list")
    requirements = tuple(
        _load_requirement(path, i, r, elements) for i, r in enumerate(requirements_raw)
    )
    return Jurisdiction(
        id=raw["id"],
        title=raw["title"].strip(),
        law=raw["law"].strip(),
        source=raw["source"].strip(),
        countries=countries,
        requirements=requirements,
        elements=elements,
    )


def load_jurisdictions(directory: Path = JURISDICTIONS_DIR) -> tuple[Jurisdiction, ...]:
    """Load and validate every jurisdiction file in ``directory``.

    Files whose name starts with ``_`` hold shared definitions, not jurisdictions.
    Raises :class:`~rules._datafile.DataFileError` on the first malformed entry.
    """
    elements_file = directory / ELEMENTS_FILE.name
    shared_raw = load_mapping(elements_file)
    if set(shared_raw) != {"elements"}:
        raise DataFileError(elements_file, "top level", "expected a single 'elements' mapping")
    shared = _load_elements(elements_file, shared_raw["elements"])
    files = sorted(p for p in directory.glob("*.yaml") if not p.name.startswith("_"))
    if not files:
        raise DataFileError(directory, "directory", "no jurisdiction files (*.yaml)")
    jurisdictions = tuple(_load_jurisdiction(p, shared) for p in files)
    seen: dict[str, Path] = {}
    for path, jurisdiction in zip(files, jurisdictions, strict=True):
        if jurisdiction.id in seen:
            raise DataFileError(
                path, "id", f"duplicate jurisdiction id (also in {seen[jurisdiction.id].name})"
            )
        seen[jurisdiction.id] = path
    return jurisdictions


@cache
def jurisdictions() -> tuple[Jurisdiction, ...]:
    """The shipped jurisdictions, loaded and validated once per process."""
    return load_jurisdictions()


def reader_text(parsed: ParsedTemplate) -> str:
    """The body text a reader sees: the HTML's visible text and the text part.

    A text part that only repeats the visible text (after white space) is read once, as
    most generated text parts do; the checks would find the same things twice.
    """
    if parsed.text and " ".join(parsed.text.split()) == " ".join(parsed.visible_text.split()):
        return parsed.visible_text
    return parsed.body_text


class MessageView:
    """The parts of a message the element checks read, extracted once per message."""

    def __init__(self, parsed: ParsedTemplate) -> None:
        self.body = reader_text(parsed)
        self.body_lowered = self.body.lower()
        self.hrefs: list[str] = []
        self.link_texts: list[str] = []
        if parsed.html:
            for anchor in LexborHTMLParser(parsed.html).css("a"):
                self.hrefs.append(anchor.attributes.get("href") or "")
                self.link_texts.append(anchor.text(separator=" ", strip=True))
        for match in _TEXT_LINK.finditer(parsed.text or ""):
            self.hrefs.append(match.group())
            line_start = max(
                parsed.text.rfind("\n", 0, max(match.start() - 1, 0)) + 1,
                match.start() - _LINK_TEXT_REACH,
            )
            self.link_texts.append(parsed.text[line_start : match.start()])
        self._present: dict[str, bool] = {}

    def has(self, element: Element) -> bool:
        if element.name not in self._present:
            self._present[element.name] = (
                any(p.search(self.body, self.body_lowered) for p in element.text)
                or any(p.search(h) for p in element.href for h in self.hrefs)
                or any(p.search(t) for p in element.link_text for t in self.link_texts)
            )
        return self._present[element.name]


def _missing(
    requirement: Requirement, elements: Mapping[str, Element], view: MessageView
) -> list[str]:
    missing = [elements[n].description for n in requirement.all_of if not view.has(elements[n])]
    if requirement.any_of and not any(view.has(elements[n]) for n in requirement.any_of):
        missing.append(" or ".join(elements[n].description for n in requirement.any_of))
    return missing


def _in_quiet_hours(local: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def _check(
    requirement: Requirement,
    jurisdiction: Jurisdiction,
    parsed: ParsedTemplate,
    view: MessageView,
    countries: tuple[str, ...],
) -> Finding | None:
    message: str | None = None
    if requirement.check == "elements":
        missing = _missing(requirement, jurisdiction.elements, view)
        if missing:
            message = requirement.message.format(missing="; ".join(missing))
    elif requirement.check == "subject_prefix":
        assert requirement.pattern is not None
        subject = parsed.subject.lstrip()
        if not requirement.pattern.match(subject):
            message = requirement.message
            near = requirement.near_miss.search(subject) if requirement.near_miss else None
            if near:
                message = f"{message} Found {near.group().strip()!r} instead."
    else:
        assert requirement.timezone is not None
        assert requirement.quiet_start is not None and requirement.quiet_end is not None
        send_at = parsed.send_at
        if send_at is not None and send_at.utcoffset() is not None:
            local = send_at.astimezone(requirement.timezone)
            if _in_quiet_hours(local.time(), requirement.quiet_start, requirement.quiet_end):
                message = requirement.message.format(local_time=local.strftime("%H:%M"))
    if message is None:
        return None
    return Finding(
        code=requirement.code,
        severity=requirement.severity,
        message=message,
        countries=countries,
        law=jurisdiction.law,
        remediation=requirement.remediation,
    )


def assess_legal(parsed: ParsedTemplate, countries: tuple[str, ...]) -> list[Finding]:
    """Findings of every jurisdiction that covers one of ``countries`` (validated codes).

    Jurisdictions that cover every country (``countries: "*"``) apply even when
    ``countries`` is empty: an unsubscribe link is required wherever the mail goes.
    """
    view = MessageView(parsed)
    findings: list[Finding] = []
    for jurisdiction in jurisdictions():
        covered = tuple(c for c in countries if jurisdiction.covers(c))
        if not covered and jurisdiction.countries is not None:
            continue
        for requirement in jurisdiction.requirements:
            finding = _check(requirement, jurisdiction, parsed, view, covered)
            if finding is not None:
                findings.append(finding)
    return findings
