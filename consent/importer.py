"""CSV import of an existing list into the ledger.

Columns (header row required, names case-insensitive): ``email`` (required),
``consented_at`` (ISO 8601; no offset means UTC), ``source``, ``ip``,
``consent_text_version``, ``country`` (ISO 3166-1 alpha-2), ``language``
(BCP 47), ``timezone`` (IANA), ``name``. Other columns are ignored and listed.

A row lacking ``consented_at`` or ``source`` is recorded as consent *without
evidence*: without both when and where, it cannot be proven. The file is read
twice as a stream: first to check encoding, header and line lengths (so a
malformed file stores nothing), then to import in batches, each batch one
transaction. Rows that fail a check are reported with their line number; an
address on the suppression list (including erased ones) is refused.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import os
import re
import socket
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import IO, TYPE_CHECKING, Any

import pycountry
from sqlalchemy.orm import Session

import db
from consent import crypto
from consent.deliverability import require_resolver, undeliverable_reason
from consent.errors import ImportFormatError, InvalidInput
from consent.models import LEDGER_LOCK, consent_texts
from consent.records import Evidence, ImportResult, RejectedRow
from consent.transitions import Pending

if TYPE_CHECKING:
    from consent.ledger import ConsentLedger

COLUMNS = (
    "email",
    "consented_at",
    "source",
    "ip",
    "consent_text_version",
    "country",
    "language",
    "timezone",
    "name",
)
MAX_LINE_BYTES = 64 * 1024
MAX_FIELD_CHARS = {"source": 200, "name": 200, "consent_text_version": 64}

_LANGUAGE_TAG = re.compile(
    r"(?P<language>[a-z]{2,3})"
    r"(?:-(?P<extlang>[a-z]{3}(?:-[a-z]{3}){0,2}))?"
    r"(?:-(?P<script>[a-z]{4}))?"
    r"(?:-(?P<region>[a-z]{2}|[0-9]{3}))?"
    r"(?P<variants>(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*)"
    r"(?P<extensions>(?:-[a-wyz0-9](?:-[a-z0-9]{2,8})+)*)"
    r"(?:-x(?:-[a-z0-9]{1,8})+)?",
    re.IGNORECASE,
)


@cache
def _known_language(code: str) -> bool:
    lookup = {"alpha_2": code} if len(code) == 2 else {"alpha_3": code}
    return _registry_get(pycountry.languages, **lookup) is not None


@cache
def _known_script(code: str) -> bool:
    return _registry_get(pycountry.scripts, alpha_4=code.title()) is not None


@cache
def _known_country(code: str) -> bool:
    return _registry_get(pycountry.countries, alpha_2=code.upper()) is not None


def _registry_get(registry: Any, **lookup: str) -> Any:
    try:
        return registry.get(**lookup)
    except (KeyError, LookupError):
        return None


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_language_tag(value: str, field: str = "language") -> str:
    """A BCP 47 tag in canonical case, its language, script and region checked against ISO lists."""
    if not isinstance(value, str):
        raise InvalidInput(field, "not a BCP 47 language tag (e.g. en, de-CH, zh-Hant-TW)")
    return _checked_language_tag(value, field)


@lru_cache(maxsize=4096)
def _checked_language_tag(value: str, field: str) -> str:
    match = _LANGUAGE_TAG.fullmatch(value.strip())
    if match is None:
        raise InvalidInput(field, "not a BCP 47 language tag (e.g. en, de-CH, zh-Hant-TW)")
    language = match["language"].lower()
    if not _known_language(language):
        raise InvalidInput(field, f"unknown ISO 639 language {language!r}")
    parts = [language]
    if match["extlang"]:
        parts.append(match["extlang"].lower())
    if match["script"]:
        if not _known_script(match["script"]):
            raise InvalidInput(field, f"unknown ISO 15924 script {match['script']!r}")
        parts.append(match["script"].title())
    if match["region"]:
        if match["region"].isalpha() and not _known_country(match["region"]):
            raise InvalidInput(field, f"unknown ISO 3166-1 region {match['region']!r}")
        parts.append(match["region"].upper())
    end = max(
        match.end(group) for group in ("language", "extlang", "script", "region") if match[group]
    )
    return "-".join(parts) + value.strip()[end:].lower()


def check_country(value: str, field: str = "country") -> str:
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha() or not _known_country(code):
        raise InvalidInput(field, "not an ISO 3166-1 alpha-2 country code")
    return code


def check_timezone(value: str, field: str = "timezone") -> str:
    name = value.strip()
    if name not in _timezones():
        raise InvalidInput(field, "not an IANA time zone name (e.g. Europe/Paris)")
    return name


def check_ip(value: str, field: str = "ip") -> str:
    """An IPv4 or IPv6 address in its canonical text form (IPv6 compressed, lower case)."""
    if not isinstance(value, str):
        raise InvalidInput(field, "not an IPv4 or IPv6 address")
    value = value.strip()
    try:
        # inet_pton takes only strict dotted-quad IPv4 (no leading zeros or short forms),
        # the same set ipaddress accepts, at a fraction of the cost per row of a big import.
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, value))
    except (OSError, ValueError):
        pass
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidInput(field, "not an IPv4 or IPv6 address") from None


def parse_timestamp(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(field, "not an ISO 8601 date or timestamp") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _open(source: str | os.PathLike[str] | IO[bytes]) -> tuple[IO[bytes], bool]:
    if isinstance(source, str | os.PathLike):
        try:
            return open(source, "rb"), True
        except OSError as exc:
            raise ImportFormatError(0, f"cannot open the file: {exc.strerror}") from None
    if isinstance(source, io.TextIOBase):
        raise ImportFormatError(0, "open the file in binary mode")
    if not source.seekable():
        raise ImportFormatError(0, "the file must be seekable (save an upload to a file first)")
    return source, False


@dataclass(frozen=True)
class ScannedFile:
    columns: list[str]  # the header's column names, lower-cased
    lines: int  # physical lines, header included


def scan(handle: IO[bytes]) -> ScannedFile:
    """First pass: UTF-8 throughout, no NUL, no line over the limit, a usable header.

    Raises :class:`ImportFormatError` naming the line.
    """
    header_line: str | None = None
    number = 0
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            break
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise ImportFormatError(
                number, f"line is longer than {MAX_LINE_BYTES // 1024} KiB; is this a CSV file?"
            )
        if b"\x00" in raw:
            raise ImportFormatError(number, "contains a NUL byte; is this a CSV file?")
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFormatError(
                number,
                f"not valid UTF-8 (byte {exc.start + 1} of the line); save the file as UTF-8",
            ) from None
        if header_line is None:
            header_line = decoded.removeprefix("\ufeff")
    if header_line is None or not header_line.strip():
        raise ImportFormatError(1, "the file is empty; a header row with 'email' is required")
    columns = [name.strip().lower() for name in next(csv.reader([header_line]))]
    if "email" not in columns:
        raise ImportFormatError(1, "the header has no 'email' column")
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise ImportFormatError(1, f"the header repeats column(s) {', '.join(duplicates)}")
    return ScannedFile(columns, number)


@dataclass(frozen=True)
class BatchProgress:
    """What one committed batch settled: every record ending on or before physical
    line ``lines_read`` is now accepted, counted as a duplicate or rejected."""

    lines_read: int
    accepted: int
    duplicates: int
    without_evidence: int
    rejected: list[RejectedRow]


# Called inside a batch's transaction, so progress kept by the caller commits with it.
ProgressHook = Callable[[Session, BatchProgress], None]


def run_import(
    ledger: ConsentLedger,
    source: str | os.PathLike[str] | IO[bytes],
    purpose: str,
    *,
    actor: str,
    check_deliverability: bool,
    batch_size: int,
    skip_lines: int = 0,
    on_batch: ProgressHook | None = None,
) -> ImportResult:
    """Import ``source``; records ending on or before line ``skip_lines`` were settled
    by an earlier, interrupted run and are passed over. ``on_batch`` sees each batch
    inside its transaction."""
    handle, owned = _open(source)
    try:
        columns = scan(handle).columns
        handle.seek(0)
        with ledger.database.session() as session:
            ledger._require_purpose(session, purpose, "purpose")
            texts: dict[str, list[Any]] = {}
            for row in session.execute(
                consent_texts.select().where(consent_texts.c.purpose == purpose)
            ):
                texts.setdefault(row.version, []).append(row)
        importer = _Importer(ledger, purpose, actor, check_deliverability, texts, on_batch=on_batch)
        stream = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
        try:
            reader = csv.reader(stream)
            next(reader)
            batch: list[tuple[int, Pending]] = []
            previous = reader.line_num
            try:
                for fields in reader:
                    line, previous = previous + 1, reader.line_num
                    if previous <= skip_lines or not any(value.strip() for value in fields):
                        continue
                    if len(fields) != len(columns):
                        importer.reject(
                            line, f"has {len(fields)} fields but the header has {len(columns)}"
                        )
                        continue
                    pending = importer.parse(line, dict(zip(columns, fields, strict=True)))
                    if pending is not None:
                        batch.append((line, pending))
                    if len(batch) >= batch_size:
                        importer.commit(batch, previous)
                        batch = []
            except csv.Error as exc:
                raise ImportFormatError(reader.line_num, f"malformed CSV: {exc}") from None
            importer.commit(batch, previous)
        finally:
            stream.detach()
    finally:
        if owned:
            handle.close()
    return ImportResult(
        accepted=importer.accepted,
        duplicates=importer.duplicates,
        rejected=sorted(importer.rejected, key=lambda r: r.line),
        without_evidence=importer.without_evidence,
        ignored_columns=ignored_columns(columns),
    )


def ignored_columns(columns: list[str]) -> list[str]:
    """The header's columns the import does not read."""
    return [name for name in columns if name not in COLUMNS]


class _Importer:
    def __init__(
        self,
        ledger: ConsentLedger,
        purpose: str,
        actor: str,
        check_deliverability: bool,
        texts: dict[str, list[Any]],
        *,
        on_batch: ProgressHook | None = None,
    ) -> None:
        self.ledger = ledger
        self.on_batch = on_batch
        # Rows rejected while parsing, settled with the next batch's transaction.
        self.unsettled: list[RejectedRow] = []
        self.purpose = purpose
        self.actor = actor
        self.check_deliverability = check_deliverability
        self.texts = texts
        self.accepted = 0
        self.duplicates = 0
        self.without_evidence = 0
        self.rejected: list[RejectedRow] = []
        self.started = db.utcnow()
        self.domain_verdicts: dict[str, str | None] = {}
        if check_deliverability:
            require_resolver(ledger.dns_resolver)  # before any row, not at the first one

    def _check_domain(self, domain: str) -> None:
        # One verdict per domain for the whole import: a list of a million addresses
        # has a few thousand domains, and every row of one domain must be judged alike.
        if domain not in self.domain_verdicts:
            self.domain_verdicts[domain] = undeliverable_reason(self.ledger.dns_resolver, domain)
        reason = self.domain_verdicts[domain]
        if reason is not None:
            raise InvalidInput("email", reason)

    def reject(self, line: int, reason: str) -> None:
        self.unsettled.append(RejectedRow(line, reason))

    def parse(self, line: int, row: dict[str, str]) -> Pending | None:
        try:
            for name, limit in MAX_FIELD_CHARS.items():
                if len(row.get(name) or "") > limit:
                    raise InvalidInput(name, f"longer than {limit} characters")
            email = crypto.normalize_email(row["email"])
            if self.check_deliverability:
                self._check_domain(email.rpartition("@")[2])
            consented_raw = (row.get("consented_at") or "").strip()
            consented_at = parse_timestamp(consented_raw, "consented_at") if consented_raw else None
            skew = self.ledger.settings.clock_skew
            if consented_at is not None and consented_at - db.utcnow() > skew:
                raise InvalidInput("consented_at", "lies in the future")
            source = (row.get("source") or "").strip() or None
            ip = (row.get("ip") or "").strip() or None
            if ip is not None:
                ip = check_ip(ip)
            country = (row.get("country") or "").strip()
            language = (row.get("language") or "").strip()
            timezone = (row.get("timezone") or "").strip()
            profile = {
                "country": check_country(country) if country else None,
                "language": check_language_tag(language) if language else None,
                "timezone": check_timezone(timezone) if timezone else None,
            }
            text_id = text_sha256 = None
            version = (row.get("consent_text_version") or "").strip()
            if version:
                candidates = self.texts.get(version)
                if not candidates:
                    raise InvalidInput(
                        "consent_text_version",
                        f"no consent text version {version!r} for purpose {self.purpose!r}",
                    )
                chosen = next(
                    (t for t in candidates if t.language == profile["language"]), candidates[0]
                )
                text_id, text_sha256 = int(chosen.id), chosen.sha256
        except InvalidInput as exc:
            self.reject(line, str(exc))
            return None
        has_evidence = consented_at is not None and source is not None
        name = (row.get("name") or "").strip() or None
        return Pending(
            subject=crypto.subject_hmac(self.ledger.keys.pepper, email),
            purpose=self.purpose,
            action="granted",
            method="import",
            occurred_at=consented_at or self.started,
            actor=self.actor,
            has_evidence=has_evidence,
            field_prefix=f"line {line}: ",
            email=email,
            name=name,
            evidence=Evidence(source=source, ip=ip),
            profile=profile,
            text_id=text_id,
            text_sha256=text_sha256,
        )

    def commit(self, batch: list[tuple[int, Pending]], lines_read: int) -> None:
        if not batch:
            if self.on_batch is not None:
                with self.ledger.database.session() as session:
                    self.on_batch(session, BatchProgress(lines_read, 0, 0, 0, self.unsettled))
            self._settle([], [], 0)
            return
        now = db.utcnow()
        ledger = self.ledger
        with ledger.database.session() as session:
            db.serialize(session, LEDGER_LOCK)
            subjects = sorted({pending.subject for _, pending in batch})
            state_rows = ledger._load_states(session, subjects)
            suppression_rows = ledger._load_suppressions(session, subjects)
            accepted: list[Pending] = []
            seen: set[str] = set()
            rejected: list[RejectedRow] = []
            duplicates = 0
            for line, pending in batch:
                suppression = suppression_rows.get(pending.subject)
                if suppression is not None:
                    rejected.append(
                        RejectedRow(line, f"address is suppressed ({suppression['reason']})")
                    )
                    continue
                state = state_rows.get((pending.subject, self.purpose))
                if pending.subject in seen or (
                    state is not None
                    and state["status"] == "active"
                    and state["granted_at"] is not None
                    and (
                        # no consented_at (stamped with the import's start) or not newer
                        pending.occurred_at == self.started
                        or pending.occurred_at <= _aware(state["granted_at"])
                    )
                ):
                    duplicates += 1
                    continue
                seen.add(pending.subject)
                accepted.append(pending)
            ledger._append(session, accepted, now, loaded=(state_rows, suppression_rows))
            if self.on_batch is not None:
                self.on_batch(
                    session,
                    BatchProgress(
                        lines_read,
                        len(accepted),
                        duplicates,
                        sum(1 for p in accepted if not p.has_evidence),
                        self.unsettled + rejected,
                    ),
                )
        self._settle(accepted, rejected, duplicates)

    def _settle(
        self, accepted: list[Pending], rejected: list[RejectedRow], duplicates: int
    ) -> None:
        """Count a batch once its transaction committed."""
        self.rejected.extend(self.unsettled)
        self.rejected.extend(rejected)
        self.unsettled = []
        self.duplicates += duplicates
        self.accepted += len(accepted)
        self.without_evidence += sum(1 for p in accepted if not p.has_evidence)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
