"""Holidays and commercial occasions: how content names them and where they are observed.

The catalogue is ``rules/data/occasions.yaml``. Observance comes from two sources, in
this order: the ``holidays`` library's calendar of the country (matched by holiday name),
then the catalogue's ``observed_in`` list for occasions the library does not carry.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import holidays
from dateutil.easter import easter

from rules._datafile import DataFileError, load_mapping
from rules._prefilter import FilteredPattern

OCCASIONS_FILE = Path(__file__).parent / "data" / "occasions.yaml"

# Languages whose words are separated by spaces and end without attached particles:
# their patterns must stand as whole words. Korean attaches particles after a word
# ("설날에"), so its patterns only need to start a word; Chinese and Japanese do not
# separate words at all.
_WHOLE_WORD_LANGUAGES = frozenset({"en", "de", "fr", "es", "ru"})
_WORD_START_LANGUAGES = frozenset({"ko"})
_NAME_LANGUAGES = _WHOLE_WORD_LANGUAGES | _WORD_START_LANGUAGES | {"zh", "ja"}

# Holiday categories that say nothing about what shoppers celebrate.
_IGNORED_CATEGORIES = frozenset({"school", "workday"})
_QUALIFIER = re.compile(r"\s*\([^)]*\)")
_WEEKDAYS = {name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
_OCCASION_KEYS = frozenset(
    {"id", "label", "names", "holiday_names", "observed_in", "dates", "lead_days", "source"}
)
_DATE_RULE_KEYS = {
    "nth_weekday": {"month", "weekday", "n"},
    "last_weekday": {"month", "weekday"},
    "fixed": {"month", "day"},
    "easter_offset": {"days"},
}
_DATE_RULE_OPTIONAL = {"shift_if_easter_offset", "shift_days"}
_DEFAULT_LEAD_DAYS = 28


@dataclass(frozen=True)
class DateRule:
    """How to compute an occasion's local date in one year."""

    kind: str
    month: int = 0
    day: int = 0
    weekday: int = 0
    n: int = 0
    days: int = 0
    shift_if_easter_offset: int | None = None
    shift_days: int = 0

    def on(self, year: int) -> date:
        if self.kind == "fixed":
            result = date(year, self.month, self.day)
        elif self.kind == "easter_offset":
            result = easter(year) + timedelta(days=self.days)
        elif self.kind == "nth_weekday":
            first = date(year, self.month, 1)
            result = first + timedelta(days=(self.weekday - first.weekday()) % 7 + 7 * (self.n - 1))
        else:  # last_weekday
            last = date(year, self.month, calendar.monthrange(year, self.month)[1])
            result = last - timedelta(days=(last.weekday() - self.weekday) % 7)
        if self.shift_if_easter_offset is not None and result == easter(year) + timedelta(
            days=self.shift_if_easter_offset
        ):
            result += timedelta(days=self.shift_days)
        return result


@dataclass(frozen=True)
class Occasion:
    """One holiday or commercial occasion of the catalogue."""

    id: str
    label: str
    holiday_names: tuple[re.Pattern[str], ...]
    observed_in: frozenset[str]
    dates: dict[str, DateRule]
    lead_days: int
    source: str

    @property
    def date_varies_by_country(self) -> bool:
        return bool(self.dates)


@dataclass(frozen=True)
class Observance:
    """Whether a country observes an occasion, and on which dates if known."""

    observed: bool
    dates: tuple[date, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    occasions: dict[str, Occasion]
    name_patterns: dict[str, tuple[FilteredPattern, ...]]

    def mentioned(self, text: str) -> dict[str, str]:
        """Occasion id -> a wording that names it in ``text`` (catalogue order)."""
        lowered = text.lower()
        found: dict[str, str] = {}
        for occasion_id, patterns in self.name_patterns.items():
            for pattern in patterns:
                match = pattern.search(text, lowered)
                if match:
                    found[occasion_id] = match.group()
                    break
        return found


def _compile(path: Path, pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise DataFileError(path, where, f"bad regular expression {pattern!r}: {exc}") from exc


def _date_rule(path: Path, raw: Any, where: str) -> DateRule:
    if not isinstance(raw, dict) or raw.get("rule") not in _DATE_RULE_KEYS:
        raise DataFileError(path, where, f"rule must be one of {sorted(_DATE_RULE_KEYS)}")
    kind = raw["rule"]
    keys = set(raw) - {"rule"}
    required = _DATE_RULE_KEYS[kind]
    if missing := required - keys:
        raise DataFileError(path, where, f"missing {sorted(missing)}")
    if unknown := keys - required - _DATE_RULE_OPTIONAL:
        raise DataFileError(path, where, f"unknown keys {sorted(unknown)}")
    weekday = raw.get("weekday", "mon")
    if weekday not in _WEEKDAYS:
        raise DataFileError(path, where, f"weekday {weekday!r} is not one of {list(_WEEKDAYS)}")
    rule = DateRule(
        kind=kind,
        month=int(raw.get("month", 0)),
        day=int(raw.get("day", 0)),
        weekday=_WEEKDAYS[weekday],
        n=int(raw.get("n", 0)),
        days=int(raw.get("days", 0)),
        shift_if_easter_offset=raw.get("shift_if_easter_offset"),
        shift_days=int(raw.get("shift_days", 0)),
    )
    try:
        rule.on(2024)
    except ValueError as exc:
        raise DataFileError(path, where, f"impossible date: {exc}") from exc
    return rule


def _country(path: Path, where: str, code: object) -> str:
    # YAML 1.1 reads an unquoted NO (Norway) as false: catch it here rather than lose Norway.
    if not isinstance(code, str) or not re.fullmatch(r"[A-Z]{2}", code):
        raise DataFileError(path, where, f"{code!r} is not an ISO 3166-1 alpha-2 code (quote NO)")
    return code


def _name_pattern(language: str, pattern: str) -> str:
    if language in _WHOLE_WORD_LANGUAGES:
        return rf"(?<!\w)(?:{pattern})(?!\w)"
    if language in _WORD_START_LANGUAGES:
        return rf"(?<!\w)(?:{pattern})"
    return f"(?:{pattern})"


def _load_catalogue(path: Path) -> Catalogue:
    raw = load_mapping(path)
    if set(raw) != {"occasions"} or not isinstance(raw["occasions"], list):
        raise DataFileError(path, "top level", "expected a mapping with a single 'occasions' list")
    occasions: dict[str, Occasion] = {}
    name_patterns: dict[str, tuple[FilteredPattern, ...]] = {}
    for index, entry in enumerate(raw["occasions"]):
        where = f"occasions[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise DataFileError(path, where, "each occasion needs an 'id'")
        occasion_id = entry["id"]
        where = f"occasion {occasion_id!r}"
        if unknown := set(entry) - _OCCASION_KEYS:
            raise DataFileError(path, where, f"unknown keys {sorted(unknown)}")
        if occasion_id in occasions:
            raise DataFileError(path, where, "duplicate id")
        if not entry.get("source"):
            raise DataFileError(path, where, "every occasion must name its source")
        names = entry.get("names")
        if not isinstance(names, dict) or not names:
            raise DataFileError(path, where, "'names' must map languages to patterns")
        if not entry.get("holiday_names") and not entry.get("observed_in"):
            raise DataFileError(
                path, where, "needs 'holiday_names' or 'observed_in' to say where it is observed"
            )
        compiled_names: list[FilteredPattern] = []
        for language, patterns in names.items():
            if language not in _NAME_LANGUAGES:
                raise DataFileError(path, where, f"names: unsupported language {language!r}")
            for pattern in patterns:
                full = _name_pattern(language, pattern)
                _compile(path, full, f"{where} names.{language}")
                compiled_names.append(FilteredPattern.compile(full, re.IGNORECASE))
        name_patterns[occasion_id] = tuple(compiled_names)
        holiday_names = tuple(
            _compile(path, p, f"{where} holiday_names") for p in entry.get("holiday_names") or ()
        )
        dates = {
            _country(path, f"{where} dates", country): _date_rule(
                path, rule, f"{where} dates.{country}"
            )
            for country, rule in (entry.get("dates") or {}).items()
        }
        observed_in = frozenset(
            _country(path, f"{where} observed_in", c) for c in entry.get("observed_in") or ()
        )
        occasions[occasion_id] = Occasion(
            id=occasion_id,
            label=str(entry.get("label") or occasion_id),
            holiday_names=holiday_names,
            observed_in=observed_in,
            dates=dates,
            lead_days=int(entry.get("lead_days", _DEFAULT_LEAD_DAYS)),
            source=str(entry["source"]),
        )
    return Catalogue(occasions=occasions, name_patterns=name_patterns)


@cache
def catalogue() -> Catalogue:
    """The occasion catalogue, loaded and validated once."""
    return _load_catalogue(OCCASIONS_FILE)


@cache
def _calendar_language(country: str) -> tuple[bool, str | None]:
    """Whether the library has the country with English names, and the language to ask for."""
    if country not in holidays.list_supported_countries(include_aliases=True):
        return False, None
    calendar_class = holidays.country_holidays(country).__class__
    localised = holidays.list_localized_countries(include_aliases=False).get(country, [])
    if "en_US" in localised:
        return True, "en_US"
    default = calendar_class.default_language
    # Calendars without a default language name their holidays in English.
    if default is None or default.startswith("en"):
        return True, None
    return False, None


@lru_cache(maxsize=1024)
def _holiday_names(country: str, year: int) -> tuple[tuple[str, date], ...]:
    """(holiday name, date) pairs of a country's calendar for one year, English names."""
    supported, language = _calendar_language(country)
    if not supported:
        return ()
    calendar_class = holidays.country_holidays(country).__class__
    categories = tuple(
        c for c in calendar_class.supported_categories if c not in _IGNORED_CATEGORIES
    )
    entries = holidays.country_holidays(
        country, years=year, language=language, categories=categories
    )
    pairs: list[tuple[str, date]] = []
    for day, names in sorted(entries.items()):
        for name in names.split("; "):
            pairs.append((_QUALIFIER.sub("", name).strip(), day))
    return tuple(pairs)


@lru_cache(maxsize=8192)
def observance(occasion_id: str, country: str, years: tuple[int, ...]) -> Observance:
    """Whether ``country`` observes the occasion in ``years``, with its local dates if known."""
    occasion = catalogue().occasions[occasion_id]
    library_dates: set[date] = set()
    if occasion.holiday_names:
        for year in years:
            for name, day in _holiday_names(country, year):
                if any(p.fullmatch(name) for p in occasion.holiday_names):
                    library_dates.add(day)
    rule = occasion.dates.get(country)
    rule_dates = {rule.on(year) for year in years} if rule else set()
    # The catalogue's date rule is the local commercial date; the library may only know a
    # related public holiday, so the rule wins when both exist.
    dates = tuple(sorted(rule_dates or library_dates))
    observed = bool(library_dates) or bool(rule_dates) or country in occasion.observed_in
    return Observance(observed=observed, dates=dates)
