"""Regional and legal fit of a template for its target countries.

:func:`assess` is called per message (by the campaign gate and the SMTP relay), so every
matcher and data table is built once per process and cached. It reads the subject, the
body text, the HTML links, the detected content languages, the target countries and the
send time of a :class:`~rules.model.ParsedTemplate`, and returns findings:

- ``REGION_HOLIDAY_NOT_OBSERVED`` (warn): an occasion the content names is not observed
  in a target country (``holidays`` calendars plus ``rules/data/occasions.yaml``);
- ``REGION_HOLIDAY_DATE_MISMATCH`` (warn): the content is scheduled around one country's
  date of an occasion that a target country observes on another date (Mother's Day);
- ``REGION_LANGUAGE_MISMATCH`` (warn) / ``REGION_LANGUAGE_UNDETECTED`` (info);
- ``REGION_CURRENCY_MISMATCH`` (warn): amounts only in currencies a country does not use;
- ``REGION_SEND_TIME_NIGHT`` (warn) / ``REGION_SEND_TIME_NO_TIMEZONE`` and
  ``REGION_SEND_TIME_OUT_OF_RANGE`` (info: the send time could not be used);
- ``REGION_UNKNOWN_COUNTRY`` (info): a target country code that is not ISO 3166-1;
- the commercial-email law findings of :mod:`rules.legal` (block).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import Locale, get_global
from babel.languages import get_official_languages
from babel.numbers import get_territory_currencies, list_currencies

from rules._datafile import DataFileError, load_mapping
from rules._occasions import Occasion, catalogue, observance
from rules.legal import assess_legal, jurisdictions, reader_text
from rules.model import Finding, ParsedTemplate

SEND_TIME_FILE = Path(__file__).parent / "data" / "send_time.yaml"
CURRENCIES_FILE = Path(__file__).parent / "data" / "currencies.yaml"

# CLDR territory codes that are not ISO 3166-1 alpha-2 country codes: exceptionally reserved
# codes (AC, CP, CQ, DG, EA, IC, TA), groupings (EU, EZ, UN) and private-use codes, except
# XK (Kosovo), which CLDR and the holidays library both use.
_NOT_COUNTRIES = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "IC", "TA", "EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"}
)
_COMMON_MISTAKES = {"UK": "GB", "EL": "GR"}
# A send this many days after an occasion's date still counts as timed for it (late
# greetings, "last chance" mails); before the date, the occasion's lead_days apply.
_DATE_GRACE_DAYS = 3
_PLAUSIBLE_SEND_YEARS = (1970, 2200)
_APOSTROPHES = ("’", "‘", "ʼ", "＇")


class UnknownCountryError(ValueError):
    """Target country codes that are not ISO 3166-1 alpha-2; ``codes`` lists them."""

    def __init__(self, codes: tuple[str, ...], hints: dict[str, str]) -> None:
        described = ", ".join(
            f"{c!r} (did you mean {hints[c]!r}?)" if c in hints else repr(c) for c in codes
        )
        super().__init__(f"unknown country codes (ISO 3166-1 alpha-2 expected): {described}")
        self.codes = codes


@cache
def known_countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes known to CLDR (via Babel)."""
    territories = Locale("en").territories
    return frozenset(
        code
        for code in territories
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


def validate_countries(codes: Iterable[str]) -> tuple[str, ...]:
    """Normalise target country codes (trimmed, upper case, deduplicated, order kept).

    Raises :class:`UnknownCountryError` naming every code that is not ISO 3166-1 alpha-2,
    for callers that answer bad input with a client error (HTTP 400).
    """
    normalised: list[str] = []
    unknown: list[str] = []
    for raw in codes:
        code = str(raw).strip().upper()
        if code in known_countries():
            if code not in normalised:
                normalised.append(code)
        elif str(raw) not in unknown:
            unknown.append(str(raw))
    if unknown:
        hints = {
            c: _COMMON_MISTAKES[c.strip().upper()]
            for c in unknown
            if c.strip().upper() in _COMMON_MISTAKES
        }
        raise UnknownCountryError(tuple(unknown), hints)
    return tuple(normalised)


# --- data tables, built once -------------------------------------------------------------


@dataclass(frozen=True)
class SendWindow:
    day_start: time
    day_end: time
    main_zones: dict[str, tuple[ZoneInfo, ...]]


def _clock(raw: object, where: str) -> time:
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", str(raw))
    if not match:
        raise DataFileError(SEND_TIME_FILE, where, f"expected HH:MM, not {raw!r}")
    return time(int(match.group(1)), int(match.group(2)))


@cache
def send_window() -> SendWindow:
    raw = load_mapping(SEND_TIME_FILE)
    if unknown := set(raw) - {"day_start", "day_end", "main_zones"}:
        raise DataFileError(SEND_TIME_FILE, "top level", f"unknown keys {sorted(unknown)}")
    zones: dict[str, tuple[ZoneInfo, ...]] = {}
    for country, names in (raw.get("main_zones") or {}).items():
        if country not in known_countries():
            raise DataFileError(
                SEND_TIME_FILE, f"main_zones.{country}", "not an ISO 3166-1 alpha-2 code"
            )
        try:
            zones[country] = tuple(ZoneInfo(name) for name in names)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
            raise DataFileError(
                SEND_TIME_FILE, f"main_zones.{country}", f"unknown time zone: {error}"
            ) from error
    return SendWindow(
        day_start=_clock(raw.get("day_start"), "day_start"),
        day_end=_clock(raw.get("day_end"), "day_end"),
        main_zones=zones,
    )


@lru_cache(maxsize=512)
def country_zones(country: str) -> tuple[ZoneInfo, ...]:
    """The time zones to check for a country: its main zones, else every CLDR zone."""
    main = send_window().main_zones.get(country)
    if main:
        return main
    zones: list[ZoneInfo] = []
    for name in get_global("territory_zones").get(country, ()):
        try:
            zones.append(ZoneInfo(name))
        except ZoneInfoNotFoundError:
            continue  # CLDR may name a zone the local tz database lacks
    return tuple(zones)


@lru_cache(maxsize=512)
def country_languages(country: str) -> frozenset[str]:
    """Official, regional official and de facto official languages (ISO 639 base codes)."""
    codes = get_official_languages(country, regional=True, de_facto=True)
    return frozenset(code.split("_")[0] for code in codes)


@lru_cache(maxsize=2048)
def country_currencies(country: str, on: date) -> frozenset[str]:
    """ISO 4217 currencies that are legal tender in ``country`` on ``on``."""
    return frozenset(get_territory_currencies(country, start_date=on, tender=True))


# A multiplier may sit between the number and the marker: 5만원, 1万円, 3 тыс. руб.
_MULTIPLIER = r"(?:\s?(?:万|萬|千|億|억|만|천|тыс\.|млн\.))?"


@dataclass(frozen=True)
class CurrencyMarker:
    text: str
    currencies: frozenset[str]
    before: re.Pattern[str] | None  # marker then amount: "$5", "€ 5"
    after: re.Pattern[str] | None  # amount then marker: "5 €", "5만원"
    # Longer markers that contain this one, with its offset in them ("US$" holds "$" at 2).
    inside: tuple[tuple[str, int], ...] = ()

    def is_part_of_longer(self, text: str, start: int) -> bool:
        return any(
            start >= offset and text.startswith(longer, start - offset)
            for longer, offset in self.inside
        )


@dataclass(frozen=True)
class CurrencyMatcher:
    """Finds amounts in content and the currencies their markers may stand for.

    Markers are rare in a message, so each is first looked for with a plain substring test
    and only then matched against a number next to it; ISO codes are found by two patterns
    that start at an upper-case letter or a digit.
    """

    markers: tuple[CurrencyMarker, ...]
    iso_codes: frozenset[str]
    code_before: re.Pattern[str] = re.compile(r"([A-Z]{3})\s?\d")
    code_after: re.Pattern[str] = re.compile(r"\d\s?([A-Z]{3})(?![A-Za-z])")

    def amounts(self, text: str) -> dict[str, frozenset[str]]:
        """Marker as written -> the currencies it may stand for, for markers next to a number."""
        found: dict[str, frozenset[str]] = {}
        for marker in self.markers:
            if marker.text not in text:
                continue
            for pattern in (marker.before, marker.after):
                if pattern is None or marker.text in found:
                    continue
                for match in pattern.finditer(text):
                    start = match.start("marker")
                    if marker.is_part_of_longer(text, start):
                        continue  # the "$" of "US$" is read as "US$"
                    if marker.text[0].isascii() and start > 0 and _latin_letter(text[start - 1]):
                        continue  # the tail of a word: "BR$" is not "R$"
                    found[marker.text] = marker.currencies
                    break
        for pattern in (self.code_before, self.code_after):
            for match in pattern.finditer(text):
                code, start = match.group(1), match.start(1)
                if code in self.iso_codes and not (start > 0 and _latin_letter(text[start - 1])):
                    found.setdefault(code, frozenset({code}))
        return found


def _latin_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


@cache
def currency_matcher() -> CurrencyMatcher:
    raw = load_mapping(CURRENCIES_FILE)
    if set(raw) != {"markers"} or not isinstance(raw["markers"], list):
        raise DataFileError(CURRENCIES_FILE, "top level", "expected a single 'markers' list")
    iso_codes = frozenset(list_currencies())
    markers: list[CurrencyMarker] = []
    for entry in raw["markers"]:
        where = f"markers[{entry.get('text')!r}]" if isinstance(entry, dict) else "markers"
        if not isinstance(entry, dict) or set(entry) != {"text", "position", "currencies"}:
            raise DataFileError(CURRENCIES_FILE, where, "needs exactly text, position, currencies")
        if entry["position"] not in {"before", "after", "both"}:
            raise DataFileError(CURRENCIES_FILE, where, "position must be before, after or both")
        if unknown := set(entry["currencies"]) - iso_codes:
            raise DataFileError(CURRENCIES_FILE, where, f"not ISO 4217 codes: {sorted(unknown)}")
        text = re.escape(entry["text"])
        markers.append(
            CurrencyMarker(
                text=entry["text"],
                currencies=frozenset(entry["currencies"]),
                before=re.compile(rf"(?P<marker>{text})\s?\d")
                if entry["position"] != "after"
                else None,
                after=re.compile(rf"\d{_MULTIPLIER}\s?(?P<marker>{text})")
                if entry["position"] != "before"
                else None,
            )
        )
    texts = [m.text for m in markers]
    markers = [
        replace(
            m,
            inside=tuple(
                (longer, offset)
                for longer in texts
                if len(longer) > len(m.text)
                for offset in range(len(longer) - len(m.text) + 1)
                if longer.startswith(m.text, offset)
            ),
        )
        for m in markers
    ]
    return CurrencyMatcher(markers=tuple(markers), iso_codes=iso_codes)


# --- the checks --------------------------------------------------------------------------


def _years(send_at: datetime | None) -> tuple[int, ...]:
    year = (send_at or datetime.now(UTC)).year
    return (year - 1, year, year + 1)


def _holiday_findings(
    content: str, countries: tuple[str, ...], send_at: datetime | None
) -> list[Finding]:
    findings: list[Finding] = []
    years = _years(send_at)
    for occasion_id, wording in catalogue().mentioned(content).items():
        occasion = catalogue().occasions[occasion_id]
        not_observed = tuple(c for c in countries if not observance(occasion_id, c, years).observed)
        if not_observed:
            findings.append(
                Finding(
                    code="REGION_HOLIDAY_NOT_OBSERVED",
                    severity="warn",
                    message=(
                        f"The content names {occasion.label} ({wording!r}), "
                        "which is not observed in "
                        f"{', '.join(not_observed)}."
                    ),
                    countries=not_observed,
                    remediation=(
                        f"Send a version without {occasion.label} to {', '.join(not_observed)}, or "
                        "name an occasion celebrated there."
                    ),
                )
            )
        if send_at is not None and occasion.date_varies_by_country:
            finding = _date_mismatch(occasion, countries, send_at, years)
            if finding:
                findings.append(finding)
    return findings


def _near(dates: Iterable[date], send_day: date, lead_days: int) -> date | None:
    for day in sorted(dates):
        if -_DATE_GRACE_DAYS <= (day - send_day).days <= lead_days:
            return day
    return None


def _date_mismatch(
    occasion: Occasion, countries: tuple[str, ...], send_at: datetime, years: tuple[int, ...]
) -> Finding | None:
    send_day = send_at.astimezone(UTC).date() if send_at.utcoffset() is not None else send_at.date()
    # The date the content is scheduled around: the nearest local date of the occasion in any
    # country the catalogue knows, target countries first.
    anchor: tuple[str, date] | None = None
    for country in (*countries, *occasion.dates):
        day = _near(observance(occasion.id, country, years).dates, send_day, occasion.lead_days)
        if day is not None:
            anchor = (country, day)
            break
    if anchor is None:
        return None
    elsewhere: list[str] = []
    for country in countries:
        local = observance(occasion.id, country, years)
        if not local.observed or not local.dates:
            continue
        if _near(local.dates, send_day, occasion.lead_days) is None:
            upcoming = [d for d in local.dates if d >= send_day - timedelta(days=_DATE_GRACE_DAYS)]
            when = upcoming[0].isoformat() if upcoming else "another date"
            elsewhere.append(f"{country} ({when})")
    if not elsewhere:
        return None
    return Finding(
        code="REGION_HOLIDAY_DATE_MISMATCH",
        severity="warn",
        message=(
            f"The send date {send_day.isoformat()} is timed for {occasion.label} on "
            f"{anchor[1].isoformat()} ({anchor[0]}), but it falls on another date in "
            f"{', '.join(elsewhere)}."
        ),
        countries=tuple(entry.split(" ")[0] for entry in elsewhere),
        remediation=f"Schedule a separate send for each country's {occasion.label} date.",
    )


def _language_findings(languages: tuple[str, ...], countries: tuple[str, ...]) -> list[Finding]:
    if not languages:
        return [
            Finding(
                code="REGION_LANGUAGE_UNDETECTED",
                severity="info",
                message=(
                    "The content language could not be detected; the language fit was not checked."
                ),
                countries=countries,
            )
        ]
    primary = languages[0].split("-")[0].split("_")[0].lower()
    mismatched = [
        c for c in countries if country_languages(c) and primary not in country_languages(c)
    ]
    if not mismatched:
        return []
    spoken = "; ".join(f"{c}: {', '.join(sorted(country_languages(c)))}" for c in mismatched)
    return [
        Finding(
            code="REGION_LANGUAGE_MISMATCH",
            severity="warn",
            message=(
                f"The content is in '{primary}', which is not a language of "
                f"{', '.join(mismatched)} ({spoken})."
            ),
            countries=tuple(mismatched),
            remediation="Send a version in the recipients' language to these countries.",
        )
    ]


def _currency_findings(content: str, countries: tuple[str, ...], on: date) -> list[Finding]:
    amounts = currency_matcher().amounts(content)
    if not amounts:
        return []
    mismatched = [
        c
        for c in countries
        if country_currencies(c, on)
        and not any(country_currencies(c, on) & cur for cur in amounts.values())
    ]
    if not mismatched:
        return []
    local = "; ".join(f"{c}: {', '.join(sorted(country_currencies(c, on)))}" for c in mismatched)
    return [
        Finding(
            code="REGION_CURRENCY_MISMATCH",
            severity="warn",
            message=(
                f"Prices are given in {', '.join(sorted(amounts))}, "
                "none of which is the currency of "
                f"{', '.join(mismatched)} ({local})."
            ),
            countries=tuple(mismatched),
            remediation="Show prices in the local currency of each target country.",
        )
    ]


def _send_time_findings(send_at: datetime, countries: tuple[str, ...]) -> list[Finding]:
    if send_at.utcoffset() is None:
        return [
            Finding(
                code="REGION_SEND_TIME_NO_TIMEZONE",
                severity="info",
                message="The send time has no time zone; local send times were not checked.",
                countries=countries,
            )
        ]
    window = send_window()
    at_night: list[str] = []
    night_countries: list[str] = []
    for country in countries:
        seen_offsets: set[timedelta | None] = set()
        for zone in country_zones(country):
            local = send_at.astimezone(zone)
            if local.utcoffset() in seen_offsets:
                continue
            seen_offsets.add(local.utcoffset())
            if not window.day_start <= local.time() < window.day_end:
                at_night.append(f"{country} {zone.key} {local.strftime('%H:%M')}")
                if country not in night_countries:
                    night_countries.append(country)
    if not at_night:
        return []
    return [
        Finding(
            code="REGION_SEND_TIME_NIGHT",
            severity="warn",
            message=(
                f"The mail arrives outside {window.day_start:%H:%M}-{window.day_end:%H:%M} "
                "local time in: "
                f"{'; '.join(at_night)}."
            ),
            countries=tuple(night_countries),
            remediation="Schedule the send per time zone so it arrives during the day.",
        )
    ]


def preload(countries: Iterable[str] = (), when: datetime | None = None) -> None:
    """Load and validate every data file now, and warm the calendars of ``countries``.

    The first :func:`assess` otherwise pays for this (about 0.2 s); a relay calls this at
    start-up so that a malformed data file stops it there, not on the first message.
    """
    catalogue()
    currency_matcher()
    send_window()
    jurisdictions()
    years = _years(when)
    for country in validate_countries(countries):
        country_languages(country)
        country_zones(country)
        for occasion_id in catalogue().occasions:
            observance(occasion_id, country, years)


def _straight_apostrophes(text: str) -> str:
    # Names are written with typographic apostrophes ("Mother’s Day") as often as with '.
    for apostrophe in _APOSTROPHES:
        if apostrophe in text:
            text = text.replace(apostrophe, "'")
    return text


def assess(parsed: ParsedTemplate) -> list[Finding]:
    """Regional (warn) and legal (block) findings for the template's target countries.

    Unknown country codes are skipped with a ``REGION_UNKNOWN_COUNTRY`` info finding (use
    :func:`validate_countries` to refuse them up front). With no valid target country only
    the rules that apply everywhere (unsubscribe link) are checked. Malformed data files
    raise :class:`~rules._datafile.DataFileError` on first use; odd message input does not
    raise.
    """
    findings: list[Finding] = []
    countries: list[str] = []
    unknown: list[str] = []
    for raw in parsed.countries or ():
        code = str(raw).strip().upper()
        if code in known_countries():
            if code not in countries:
                countries.append(code)
        else:
            unknown.append(str(raw))
    if unknown:
        findings.append(
            Finding(
                code="REGION_UNKNOWN_COUNTRY",
                severity="info",
                message=f"Unknown country codes skipped: {', '.join(repr(c) for c in unknown)}.",
                remediation="Use ISO 3166-1 alpha-2 codes (e.g. GB, not UK).",
            )
        )
    targets = tuple(countries)
    send_at = parsed.send_at
    if send_at is not None and (
        not isinstance(send_at, datetime)
        or not _PLAUSIBLE_SEND_YEARS[0] <= send_at.year <= _PLAUSIBLE_SEND_YEARS[1]
    ):
        shown = send_at.isoformat() if isinstance(send_at, datetime) else repr(send_at)
        findings.append(
            Finding(
                code="REGION_SEND_TIME_OUT_OF_RANGE",
                severity="info",
                message=f"The send time {shown} is not a plausible date-time; it was ignored.",
                countries=targets,
                remediation="Give the planned send time as an aware ISO 8601 date-time.",
            )
        )
        # Calendars and time-zone arithmetic break at the ends of the datetime range.
        send_at = None
    # The engine fills every field; callers building a ParsedTemplate by hand may leave
    # None where text is expected, which must not turn into an exception here.
    parsed = replace(
        parsed,
        subject=parsed.subject or "",
        html=parsed.html or "",
        text=parsed.text or "",
        visible_text=parsed.visible_text or "",
        languages=tuple(str(code) for code in parsed.languages or () if code),
        send_at=send_at,
    )
    if targets:
        content = _straight_apostrophes(f"{parsed.subject}\n{reader_text(parsed)}")
        findings.extend(_holiday_findings(content, targets, parsed.send_at))
        findings.extend(_language_findings(parsed.languages, targets))
        on = (parsed.send_at or datetime.now(UTC)).date()
        findings.extend(_currency_findings(content, targets, on))
        if parsed.send_at is not None:
            findings.extend(_send_time_findings(parsed.send_at, targets))
    findings.extend(assess_legal(parsed, targets))
    return findings
