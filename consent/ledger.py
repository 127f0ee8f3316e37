"""The consent ledger service: one object bound to a database and the service keys.

Every user action of the consent ledger is one method here; each runs in its
own transaction, serialised against all other writers of the log, and either
stores everything it was asked to or nothing.
"""

from __future__ import annotations

import base64
import calendar
import dataclasses
import json
import logging
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import IO, Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

import db
from consent import bulk, crypto, importer, log, mail, merkle, transitions
from consent.errors import (
    FutureEvent,
    IllegalTransition,
    InvalidInput,
    LedgerEmpty,
    OptInThrottled,
    SubjectNotFound,
    TokenExpired,
    TokenInvalid,
    TokenReused,
    UnknownAction,
    UnknownConsentText,
    UnknownMethod,
    UnknownPurpose,
)
from consent.models import (
    HMAC_LENGTH,
    LEDGER_LOCK,
    consent_texts,
    events,
    optin_tokens,
    purposes,
    states,
    subject_keys,
    subjects,
    suppressions,
)
from consent.records import (
    ACTIONS,
    METHODS,
    ConsentSettings,
    ConsentTextRecord,
    Eligibility,
    EventInput,
    Evidence,
    ExclusionReason,
    ImportResult,
    LedgerVerification,
    OptInRequest,
    PurposeRecord,
    PurposeState,
    RecordedEvent,
    SignedTreeHead,
    SubjectTimeline,
    SuppressionRecord,
    TimelineEvent,
    TokenInfo,
)
from consent.transitions import Pending, StateRow, SuppressionRow
from consent.verify import PROOF_FORMAT, consent_text_digest

_IN_BATCH = 900  # bound parameters per IN (...) list, under every backend's limit
# Up to this many ids an IN list is the cheapest lookup on every backend.
_SHORT_IN_LIST = 32
PROOF_TEXT_LIMIT = 50


_log = logging.getLogger(__name__)
# Eligibility verdicts by the small code the query answers with.
_VERDICTS: tuple[str, ...] = (
    "eligible",
    "no-evidence",
    "no-consent",
    "unconfirmed",
    "withdrawn",
    "expired",
    "suppressed",
    "erased",
)
_ELIGIBLE = _VERDICTS.index("eligible")
_NO_EVIDENCE = _VERDICTS.index("no-evidence")
# The window ConsentSettings.optin_requests_per_day counts confirmation mails in.
OPTIN_REQUEST_WINDOW = timedelta(hours=24)


def months_before(moment: datetime, months: int) -> datetime:
    """The same wall time ``months`` calendar months earlier (day clipped to the month's end)."""
    years, month_index = divmod(moment.month - 1 - months, 12)
    year, month = moment.year + years, month_index + 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1])
    )


def _months_after(moment: datetime, months: int) -> datetime:
    return months_before(moment, -months)


def _chunks(items: Sequence[Any], size: int = _IN_BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _by_subjects(
    session: Session, query: Select[Any], key: ColumnElement[str], subject_ids: Sequence[str]
) -> Iterator[Row[Any]]:
    """The rows of ``query`` whose ``key`` is one of ``subject_ids``, each found by index."""
    if not subject_ids:
        return
    if session.get_bind().dialect.name == "postgresql" and len(subject_ids) > _SHORT_IN_LIST:
        # Joined with the unnested array, PostgreSQL probes the index once per id; given
        # an IN list of hundreds it chose a sequential scan well past 100k rows.
        ids = (
            func.unnest(bindparam("ids", list(subject_ids), type_=ARRAY(String)))
            .table_valued("h")
            .render_derived(name="ids")
        )
        yield from session.execute(query.join(ids, key == ids.c.h))
        return
    for chunk in _chunks(subject_ids):
        yield from session.execute(query.where(key.in_(chunk)))


class ConsentLedger:
    """Consent records, proofs and eligibility for one database and one set of keys.

    ``address`` arguments accept an email address (normalized here) or a
    subject id (the 64-hex HMAC other packages hold).
    """

    def __init__(
        self,
        database: db.Database,
        keys: crypto.ConsentKeys,
        settings: ConsentSettings | None = None,
        *,
        dns_resolver: Any = None,
    ) -> None:
        self.database = database
        self.keys = keys
        self.settings = settings or ConsentSettings()
        self.dns_resolver = dns_resolver

    # ----------------------------------------------------------------- addresses

    def normalize(self, email: str, *, check_deliverability: bool = False) -> str:
        """The normalized address; raises :class:`InvalidEmail` saying what is wrong."""
        return crypto.normalize_email(
            email, check_deliverability=check_deliverability, resolver=self.dns_resolver
        )

    def subject_id(self, address: str, *, field: str = "email") -> str:
        """The subject id (hex HMAC) of an email address, or ``address`` if it already is one."""
        if crypto.is_subject_hmac(address):
            return address
        return crypto.subject_hmac(self.keys.pepper, crypto.normalize_email(address, field=field))

    # ------------------------------------------------------------ purposes, texts

    def add_purpose(
        self, name: str, description: str = "", repermission_months: int | None = None
    ) -> PurposeRecord:
        """Register a purpose (lower-case words joined by '-'); months None: the default policy."""
        if not name or len(name) > 64 or not all(part.isalnum() for part in name.split("-")):
            raise InvalidInput("name", "a purpose is lower-case letters/digits joined by '-'")
        if name != name.lower():
            raise InvalidInput("name", "a purpose is lower-case")
        if repermission_months is not None and not 1 <= repermission_months <= 1200:
            raise InvalidInput("repermission_months", "must be between 1 and 1200")
        with self.database.session() as session:
            exists = session.execute(select(purposes.c.name).where(purposes.c.name == name))
            if exists.first() is not None:
                raise InvalidInput("name", f"purpose {name!r} already exists")
            session.execute(
                insert(purposes).values(
                    name=name,
                    description=description,
                    repermission_months=repermission_months,
                    created_at=db.utcnow(),
                )
            )
        return PurposeRecord(name, description, self._months(repermission_months))

    def purposes(self) -> list[PurposeRecord]:
        with self.database.session() as session:
            rows = session.execute(select(purposes).order_by(purposes.c.name)).all()
        return [
            PurposeRecord(r.name, r.description, self._months(r.repermission_months)) for r in rows
        ]

    def _months(self, value: int | None) -> int:
        return value if value is not None else self.settings.repermission_months

    def add_consent_text(
        self, purpose: str, version: str, language: str, body: str
    ) -> ConsentTextRecord:
        """Record a new, immutable version of a consent text; its SHA-256 goes into evidence."""
        if not version or len(version) > 64:
            raise InvalidInput("version", "a version of 1 to 64 characters is required")
        if not body.strip():
            raise InvalidInput("body", "the consent text is empty")
        language = _check_language_tag(language, "language")
        digest = consent_text_digest(purpose, version, language, body)
        now = db.utcnow()
        with self.database.session() as session:
            self._require_purpose(session, purpose, "purpose")
            duplicate = session.execute(
                select(consent_texts.c.id).where(
                    consent_texts.c.purpose == purpose,
                    consent_texts.c.version == version,
                    consent_texts.c.language == language,
                )
            ).first()
            if duplicate is not None:
                raise InvalidInput(
                    "version", f"version {version!r} ({language}) of {purpose} already exists"
                )
            new_id = session.execute(
                insert(consent_texts)
                .values(
                    purpose=purpose,
                    version=version,
                    language=language,
                    body=body,
                    sha256=digest,
                    created_at=now,
                )
                .returning(consent_texts.c.id)
            ).scalar_one()
        return ConsentTextRecord(int(new_id), purpose, version, language, body, digest, now)

    def consent_texts(self, purpose: str | None = None) -> list[ConsentTextRecord]:
        query = select(consent_texts).order_by(consent_texts.c.id)
        if purpose is not None:
            query = query.where(consent_texts.c.purpose == purpose)
        with self.database.session() as session:
            return [_text_record(row) for row in session.execute(query)]

    def _require_purpose(self, session: Session, purpose: str, field_name: str) -> int:
        row = session.execute(
            select(purposes.c.repermission_months).where(purposes.c.name == purpose)
        ).first()
        if row is None:
            raise UnknownPurpose(field_name, f"unknown purpose {purpose!r}")
        return self._months(row[0])

    # ---------------------------------------------------------------- recording

    def record(self, event: EventInput) -> RecordedEvent:
        """Append one event (any action except ``erased``; use :meth:`erase`)."""
        return self._record([event], single=True)[0]

    def record_many(self, batch: Sequence[EventInput]) -> list[RecordedEvent]:
        """Append a batch atomically: every event is checked first; on any error none is stored.

        Errors name the field as ``events[i].field``.
        """
        return self._record(batch, single=False)

    def _record(self, batch: Sequence[EventInput], *, single: bool) -> list[RecordedEvent]:
        if not batch:
            return []
        now = db.utcnow()
        pending = [
            self._prepare(item, now, "" if single else f"events[{i}].")
            for i, item in enumerate(batch)
        ]
        with self.database.session() as session:
            db.serialize(session, LEDGER_LOCK)
            return self._append(session, pending, now)

    def _prepare(self, item: EventInput, now: datetime, prefix: str) -> Pending:
        if item.action not in ACTIONS:
            raise UnknownAction(
                f"{prefix}action", f"unknown action {item.action!r}; one of {', '.join(ACTIONS)}"
            )
        if item.action == "erased":
            raise IllegalTransition(f"{prefix}action", "erasure is recorded by erase()")
        if item.method not in METHODS:
            raise UnknownMethod(
                f"{prefix}method", f"unknown method {item.method!r}; one of {', '.join(METHODS)}"
            )
        if not item.purpose:
            raise UnknownPurpose(f"{prefix}purpose", "a purpose is required")
        occurred_at = self._occurred_at(item.occurred_at, now, f"{prefix}occurred_at")
        email = None
        if crypto.is_subject_hmac(item.address):
            subject = item.address
        else:
            email = crypto.normalize_email(item.address, field=f"{prefix}email")
            subject = crypto.subject_hmac(self.keys.pepper, email)
        evidence = _checked_evidence(item.evidence, f"{prefix}evidence")
        return Pending(
            subject=subject,
            purpose=item.purpose,
            action=item.action,
            method=item.method,
            occurred_at=occurred_at,
            actor=_check_actor(item.actor, f"{prefix}actor"),
            has_evidence=not item.evidence.is_empty,
            field_prefix=prefix,
            email=email,
            name=item.name,
            evidence=evidence,
        )

    def _occurred_at(self, value: datetime | None, now: datetime, field_name: str) -> datetime:
        if value is None:
            return now
        if value.tzinfo is None:
            raise InvalidInput(field_name, "needs a time zone (e.g. 2026-01-31T12:00:00Z)")
        if value - now > self.settings.clock_skew:
            raise FutureEvent(
                field_name,
                f"lies in the future beyond the allowed clock skew of {self.settings.clock_skew}",
            )
        return value.astimezone(UTC)

    def _resolve_texts(self, session: Session, pending: Sequence[Pending]) -> None:
        cache: dict[tuple[Any, ...], tuple[int, str]] = {}
        for item in pending:
            evidence = item.evidence
            if evidence.text_id is None and evidence.text_version is None:
                continue
            if evidence.text_id is not None:
                key: tuple[Any, ...] = ("id", evidence.text_id)
                query = select(consent_texts).where(consent_texts.c.id == evidence.text_id)
            else:
                key = ("version", item.purpose, evidence.text_version, evidence.text_language)
                query = select(consent_texts).where(
                    consent_texts.c.purpose == item.purpose,
                    consent_texts.c.version == evidence.text_version,
                )
            if key not in cache:
                rows = session.execute(query.order_by(consent_texts.c.id)).all()
                if evidence.text_language is not None:
                    rows = [r for r in rows if r.language == evidence.text_language] or rows
                if not rows or (evidence.text_id is not None and rows[0].purpose != item.purpose):
                    raise UnknownConsentText(
                        f"{item.field_prefix}evidence.text",
                        f"no consent text {evidence.text_id or evidence.text_version!r} "
                        f"for purpose {item.purpose!r}",
                    )
                cache[key] = (int(rows[0].id), rows[0].sha256)
            item.text_id, item.text_sha256 = cache[key]

    def _append(
        self,
        session: Session,
        pending: Sequence[Pending],
        now: datetime,
        *,
        loaded: tuple[dict[tuple[str, str], StateRow], dict[str, SuppressionRow]] | None = None,
    ) -> list[RecordedEvent]:
        """Check transitions and append (caller holds the ledger lock). All or nothing.

        ``loaded``: the states and suppressions of every subject in ``pending``, read
        under the same lock by a caller that already needed them.
        """
        known = {
            row.name: self._months(row.repermission_months)
            for row in session.execute(select(purposes))
        }
        for item in pending:
            if item.purpose is not None and item.purpose not in known:
                raise UnknownPurpose(
                    f"{item.field_prefix}purpose", f"unknown purpose {item.purpose!r}"
                )
        self._resolve_texts(session, pending)
        if loaded is None:
            subject_ids = sorted({item.subject for item in pending})
            state_rows = self._load_states(session, subject_ids)
            suppression_rows = self._load_suppressions(session, subject_ids)
        else:
            state_rows, suppression_rows = dict(loaded[0]), dict(loaded[1])
        base = log.log_size(session)
        changed_states: dict[tuple[str, str], dict[str, Any]] = {}
        changed_suppressions: dict[str, dict[str, Any] | None] = {}
        for offset, item in enumerate(pending):
            assert item.purpose is not None
            key = (item.subject, item.purpose)
            new_state, new_suppression, suppression_changed = transitions.apply(
                state_rows.get(key),
                suppression_rows.get(item.subject),
                subject=item.subject,
                purpose=item.purpose,
                action=item.action,
                method=item.method,
                has_evidence=item.has_evidence,
                occurred_at=item.occurred_at,
                seq=base + offset,
                now=now,
                field_name=f"{item.field_prefix}action",
            )
            state_rows[key] = changed_states[key] = new_state
            if suppression_changed:
                suppression_rows[item.subject] = new_suppression  # type: ignore[assignment]
                changed_suppressions[item.subject] = new_suppression
        data_keys = self._data_keys(session, pending, now)
        rows = [self._event_row(item, data_keys) for item in pending]
        first = log.append(session, rows, now)
        if first != base:
            raise RuntimeError("the log grew while the ledger lock was held")
        self._save_states(session, list(changed_states.values()))
        self._save_suppressions(session, changed_suppressions)
        return [_recorded(row) for row in rows]

    def _event_row(self, item: Pending, data_keys: dict[str, bytes]) -> dict[str, Any]:
        personal: dict[str, str] = {}
        if item.email is not None:
            personal["email"] = item.email
        if item.name:
            personal["name"] = item.name
        if item.evidence.ip:
            personal["ip"] = item.evidence.ip
        if item.evidence.user_agent:
            personal["user_agent"] = item.evidence.user_agent
        sealed = None
        if personal:
            sealed = crypto.seal_personal(data_keys[item.subject], item.subject, personal)
        return {
            "subject_hmac": item.subject,
            "purpose": item.purpose,
            "action": item.action,
            "method": item.method,
            "text_id": item.text_id,
            "text_sha256": item.text_sha256,
            "form_url": item.evidence.form_url,
            "source": item.evidence.source,
            "campaign_id": item.evidence.campaign_id,
            "personal": sealed,
            "has_evidence": item.has_evidence,
            "occurred_at": item.occurred_at,
            "actor": item.actor,
        }

    def _data_keys(
        self, session: Session, pending: Sequence[Pending], now: datetime
    ) -> dict[str, bytes]:
        """Each subject's data key, creating keys (and subject rows) the batch needs."""
        needing = sorted(
            {
                item.subject
                for item in pending
                if item.email or item.name or item.evidence.ip or item.evidence.user_agent
            }
        )
        keys: dict[str, bytes] = {}
        existing_subjects: set[str] = set()
        # One lookup for both: a subject row never exists without its key.
        known = select(subject_keys.c.hmac, subject_keys.c.wrapped_key, subjects.c.hmac).outerjoin(
            subjects, subjects.c.hmac == subject_keys.c.hmac
        )
        for subject, wrapped, subject_row in _by_subjects(
            session, known, subject_keys.c.hmac, needing
        ):
            keys[subject] = crypto.unwrap_key(self.keys.master_key, subject, bytes(wrapped))
            if subject_row is not None:
                existing_subjects.add(subject)
        new_keys = []
        for subject in needing:
            if subject not in keys:
                keys[subject] = crypto.new_data_key()
                new_keys.append(
                    {
                        "hmac": subject,
                        "wrapped_key": crypto.wrap_key(
                            self.keys.master_key, subject, keys[subject]
                        ),
                        "created_at": now,
                    }
                )
        new_subjects: dict[str, dict[str, Any]] = {}
        profile_updates: dict[str, dict[str, Any]] = {}
        for item in pending:
            if item.email is None:
                continue
            profile = item.profile or {}
            if item.subject not in existing_subjects and item.subject not in new_subjects:
                new_subjects[item.subject] = {
                    "hmac": item.subject,
                    "email_ciphertext": crypto.seal_email(
                        keys[item.subject], item.subject, item.email
                    ),
                    "name_ciphertext": crypto.seal_email(
                        keys[item.subject], item.subject, item.name
                    )
                    if item.name
                    else None,
                    "country": profile.get("country"),
                    "language": profile.get("language"),
                    "timezone": profile.get("timezone"),
                    "created_at": now,
                }
            elif item.subject in existing_subjects and any(profile.values()):
                profile_updates[item.subject] = {k: v for k, v in profile.items() if v}
        bulk.insert_rows(session, subject_keys, new_keys)
        bulk.insert_rows(session, subjects, list(new_subjects.values()))
        for subject, values in profile_updates.items():
            session.execute(update(subjects).where(subjects.c.hmac == subject).values(**values))
        return keys

    def _load_states(
        self, session: Session, subject_ids: Sequence[str]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        result: dict[tuple[str, str], dict[str, Any]] = {}
        for row in _by_subjects(session, select(states), states.c.subject_hmac, subject_ids):
            mapping = row._asdict()
            result[(mapping["subject_hmac"], mapping["purpose"])] = mapping
        return result

    def _load_suppressions(
        self, session: Session, subject_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = {}
        query = select(suppressions)
        for row in _by_subjects(session, query, suppressions.c.subject_hmac, subject_ids):
            mapping = row._asdict()
            result[mapping["subject_hmac"]] = mapping
        return result

    def _save_states(self, session: Session, rows: list[dict[str, Any]]) -> None:
        bulk.insert_rows(session, states, rows, conflict_keys=["subject_hmac", "purpose"])

    def _save_suppressions(
        self, session: Session, changes: dict[str, dict[str, Any] | None]
    ) -> None:
        lifted = [subject for subject, row in changes.items() if row is None]
        for chunk in _chunks(lifted):
            session.execute(delete(suppressions).where(suppressions.c.subject_hmac.in_(chunk)))
        bulk.insert_rows(
            session,
            suppressions,
            [row for row in changes.values() if row is not None],
            conflict_keys=["subject_hmac"],
        )

    # ------------------------------------------------------------ double opt-in

    def request_opt_in(
        self,
        email: str,
        purpose: str,
        evidence: Evidence | None = None,
        *,
        name: str | None = None,
        language: str | None = None,
        actor: str = "public",
        base_url: str | None = None,
    ) -> OptInRequest:
        """Record ``requested`` (method double-opt-in) and issue a signed, expiring token.

        Send :meth:`confirmation_email` with it; :meth:`confirm_opt_in` consumes it.
        """
        now = db.utcnow()
        pending = self._prepare(
            EventInput(
                email,
                purpose,
                "requested",
                "double-opt-in",
                evidence or Evidence(),
                None,
                actor,
                name,
            ),
            now,
            "",
        )
        if language is not None:
            pending.profile = {"language": _check_language_tag(language, "language")}
        token_id = secrets.token_hex(16)
        expires_at = now + self.settings.optin_token_ttl
        with self.database.session() as session:
            db.serialize(session, LEDGER_LOCK)
            self._check_optin_budget(session, pending.subject, purpose, now)
            [event] = self._append(session, [pending], now)
            session.execute(
                insert(optin_tokens).values(
                    token_id=token_id,
                    subject_hmac=pending.subject,
                    purpose=purpose,
                    request_seq=event.seq,
                    expires_at=expires_at,
                    used_at=None,
                    issued_at=now,
                )
            )
        token = crypto.sign_token(
            self.keys.token_key, {"k": "confirm", "i": token_id, "e": int(expires_at.timestamp())}
        )
        url = f"{(base_url or self.settings.base_url).rstrip('/')}/confirm/{token}"
        return OptInRequest(token=token, event=event, expires_at=expires_at, confirm_url=url)

    def _check_optin_budget(
        self, session: Session, subject: str, purpose: str, now: datetime
    ) -> None:
        """Raise :class:`OptInThrottled` when the address had its day's confirmation mails."""
        issued = (
            session.execute(
                select(optin_tokens.c.issued_at)
                .where(
                    optin_tokens.c.subject_hmac == subject,
                    optin_tokens.c.purpose == purpose,
                    optin_tokens.c.issued_at > now - OPTIN_REQUEST_WINDOW,
                )
                .order_by(optin_tokens.c.issued_at)
            )
            .scalars()
            .all()
        )
        limit = self.settings.optin_requests_per_day
        if len(issued) >= limit:
            # Room again once the oldest request that still counts leaves the window.
            room_at = issued[len(issued) - limit] + OPTIN_REQUEST_WINDOW
            raise OptInThrottled(max(1, int((room_at - now).total_seconds())))

    def confirmation_email(
        self,
        request: OptInRequest,
        email: str,
        *,
        sender: str,
        language: str = "en",
        organisation: str = "",
    ) -> EmailMessage:
        """The confirmation mail (plain text + HTML, en/de/fr; other languages fall back to en)."""
        return mail.confirmation_message(
            to=self.normalize(email),
            sender=sender,
            confirm_url=request.confirm_url,
            expires_at=request.expires_at,
            language=language,
            organisation=organisation,
        )

    def inspect_token(self, token: str) -> TokenInfo:
        """What a token refers to, without using it (for the page shown before the POST).

        Raises :class:`TokenInvalid` or :class:`TokenExpired`; a used confirmation
        token is reported with ``used=True``.
        """
        kind = _token_kind(token)
        if kind == "unsubscribe":
            payload = crypto.read_token(self.keys.token_key, token, "unsubscribe")
            return TokenInfo(
                "unsubscribe", payload["s"], payload["p"], payload.get("c"), None, False
            )
        payload = self._read_confirm_token(token, db.utcnow())
        with self.database.session() as session:
            row = session.execute(
                select(optin_tokens).where(optin_tokens.c.token_id == payload["i"])
            ).first()
        if row is None:
            raise TokenInvalid("token", "unknown token")
        return TokenInfo(
            "confirm", row.subject_hmac, row.purpose, None, row.expires_at, row.used_at is not None
        )

    def _read_confirm_token(self, token: str, now: datetime) -> dict[str, Any]:
        payload = crypto.read_token(self.keys.token_key, token, "confirm")
        if not isinstance(payload.get("e"), int) or not isinstance(payload.get("i"), str):
            raise TokenInvalid("token", "malformed token")
        if payload["e"] <= now.timestamp():
            raise TokenExpired("token", "the confirmation link has expired; subscribe again")
        return payload

    def confirm_opt_in(
        self, token: str, evidence: Evidence | None = None, *, actor: str = "public"
    ) -> RecordedEvent:
        """Record ``confirmed`` for the token's request; the token is single-use."""
        now = db.utcnow()
        payload = self._read_confirm_token(token, now)
        evidence = _checked_evidence(evidence or Evidence(), "evidence")
        with self.database.session() as session:
            db.serialize(session, LEDGER_LOCK)
            row = session.execute(
                select(optin_tokens).where(optin_tokens.c.token_id == payload["i"])
            ).first()
            if row is None:
                raise TokenInvalid("token", "unknown token")
            if row.used_at is not None:
                raise TokenReused("token", "this confirmation link was already used")
            request = session.execute(
                select(events.c.text_id, events.c.form_url, events.c.source).where(
                    events.c.seq == row.request_seq
                )
            ).one()
            if evidence.text_id is None and evidence.text_version is None:
                # The text the person confirmed is the one shown when they asked.
                evidence = Evidence(
                    text_id=request.text_id,
                    form_url=evidence.form_url or request.form_url,
                    ip=evidence.ip,
                    user_agent=evidence.user_agent,
                    source=evidence.source or request.source,
                    campaign_id=evidence.campaign_id,
                )
            pending = Pending(
                subject=row.subject_hmac,
                purpose=row.purpose,
                action="confirmed",
                method="double-opt-in",
                occurred_at=now,
                actor=_check_actor(actor, "actor"),
                has_evidence=True,
                evidence=evidence,
            )
            [event] = self._append(session, [pending], now)
            session.execute(
                update(optin_tokens)
                .where(optin_tokens.c.token_id == row.token_id)
                .values(used_at=now)
            )
        return event

    def purge_expired_tokens(self, now: datetime | None = None) -> int:
        """Delete opt-in tokens past their expiry (used or not) that no longer count
        towards an address's daily confirmation mails; returns how many."""
        moment = now or db.utcnow()
        with self.database.session() as session:
            result = session.execute(
                delete(optin_tokens).where(
                    optin_tokens.c.expires_at <= moment,
                    or_(
                        optin_tokens.c.issued_at.is_(None),
                        optin_tokens.c.issued_at <= moment - OPTIN_REQUEST_WINDOW,
                    ),
                )
            )
        return int(result.rowcount)  # type: ignore[attr-defined]

    # ---------------------------------------------------------------- withdrawal

    def unsubscribe_token(self, address: str, purpose: str, campaign_id: str | None = None) -> str:
        """A signed, non-expiring token that withdraws ``address`` from ``purpose``."""
        payload: dict[str, Any] = {"k": "unsubscribe", "s": self.subject_id(address), "p": purpose}
        if campaign_id is not None:
            payload["c"] = campaign_id
        return crypto.sign_token(self.keys.token_key, payload)

    def list_unsubscribe_headers(
        self,
        address: str,
        purpose: str,
        campaign_id: str | None = None,
        base_url: str | None = None,
    ) -> dict[str, str]:
        """RFC 8058 headers for a recipient: ``List-Unsubscribe`` and ``List-Unsubscribe-Post``."""
        token = self.unsubscribe_token(address, purpose, campaign_id)
        targets = [f"<{(base_url or self.settings.base_url).rstrip('/')}/unsubscribe/{token}>"]
        if self.settings.unsubscribe_mailto:
            targets.append(
                f"<mailto:{self.settings.unsubscribe_mailto}?subject=unsubscribe%20{token}>"
            )
        return {
            "List-Unsubscribe": ", ".join(targets),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    def withdraw(
        self,
        token: str,
        method: str = "one-click-unsubscribe",
        evidence: Evidence | None = None,
        *,
        actor: str = "public",
    ) -> RecordedEvent | None:
        """Record ``withdrawn`` and suppress the address; None when it was already withdrawn.

        Repeating the request (mail clients retry one-click POSTs) changes nothing.
        """
        if method not in METHODS:
            raise UnknownMethod("method", f"unknown method {method!r}")
        payload = crypto.read_token(self.keys.token_key, token, "unsubscribe")
        subject, purpose = payload.get("s"), payload.get("p")
        if (
            not isinstance(subject, str)
            or not crypto.is_subject_hmac(subject)
            or not isinstance(purpose, str)
        ):
            raise TokenInvalid("token", "malformed token")
        evidence = _checked_evidence(evidence or Evidence(), "evidence")
        if payload.get("c") is not None and evidence.campaign_id is None:
            evidence = dataclasses.replace(evidence, campaign_id=str(payload["c"]))
        now = db.utcnow()
        with self.database.session() as session:
            db.serialize(session, LEDGER_LOCK)
            self._require_purpose(session, purpose, "token")
            state = self._load_states(session, [subject]).get((subject, purpose))
            suppression = self._load_suppressions(session, [subject]).get(subject)
            if suppression is not None and (
                suppression["reason"] == "erased"
                or (state is not None and state["status"] == "withdrawn")
            ):
                return None
            pending = Pending(
                subject=subject,
                purpose=purpose,
                action="withdrawn",
                method=method,
                occurred_at=now,
                actor=_check_actor(actor, "actor"),
                has_evidence=not evidence.is_empty,
                evidence=evidence,
            )
            [event] = self._append(session, [pending], now)
        return event

    # ------------------------------------------------------------------- erasure

    def erase(
        self, address: str, *, actor: str = "admin", method: str = "admin"
    ) -> RecordedEvent | None:
        """Crypto-shred a subject (Art. 17): delete its key, record ``erased``, keep it suppressed.

        The events stay (the ledger still verifies) but their personal data can no
        longer be decrypted. Returns None when the subject was already erased.
        """
        if method not in METHODS:
            raise UnknownMethod("method", f"unknown method {method!r}")
        subject = self.subject_id(address)
        now = db.utcnow()
        with self.database.session() as session:
            db.serialize(session, LEDGER_LOCK)
            suppression = self._load_suppressions(session, [subject]).get(subject)
            if suppression is not None and suppression["reason"] == "erased":
                return None
            row: dict[str, Any] = {
                "subject_hmac": subject,
                "purpose": None,
                "action": "erased",
                "method": method,
                "text_id": None,
                "text_sha256": None,
                "form_url": None,
                "source": None,
                "campaign_id": None,
                "personal": None,
                "has_evidence": True,
                "occurred_at": now,
                "actor": _check_actor(actor, "actor"),
            }
            seq = log.append(session, [row], now)
            session.execute(
                update(states)
                .where(states.c.subject_hmac == subject)
                .values(status="erased", pending_request_seq=None, last_seq=seq, updated_at=now)
            )
            self._save_suppressions(
                session,
                {
                    subject: {
                        "subject_hmac": subject,
                        "reason": "erased",
                        "purpose": None,
                        "since": now,
                        "seq": seq,
                    }
                },
            )
            session.execute(delete(subject_keys).where(subject_keys.c.hmac == subject))
            session.execute(delete(subjects).where(subjects.c.hmac == subject))
            session.execute(delete(optin_tokens).where(optin_tokens.c.subject_hmac == subject))
        shredded = (subject_keys.name, subjects.name, optin_tokens.name)
        if not self.database.scrub_deleted(shredded):
            _log.warning(
                "erasure (seq %s) committed; a reader held old pages, so the deleted key "
                "leaves the database files at the next checkpoint",
                seq,
            )
        return _recorded(row)

    # ------------------------------------------------------------ re-permission

    def expire_stale_consents(self, now: datetime | None = None, *, batch_size: int = 5000) -> int:
        """Append ``expired`` for active consents older than their purpose's re-permission policy.

        Set-based: one query per purpose and batch selects the stale ones. Returns
        how many expired.
        """
        moment = now or db.utcnow()
        total = 0
        for purpose in self.purposes():
            cutoff = months_before(moment, purpose.repermission_months)
            while True:
                with self.database.session() as session:
                    db.serialize(session, LEDGER_LOCK)
                    stale = (
                        session.execute(
                            select(states.c.subject_hmac)
                            .where(
                                states.c.purpose == purpose.name,
                                states.c.status == "active",
                                states.c.granted_at < cutoff,
                            )
                            .order_by(states.c.subject_hmac)
                            .limit(batch_size)
                        )
                        .scalars()
                        .all()
                    )
                    if not stale:
                        break
                    pending = [
                        Pending(
                            subject=subject,
                            purpose=purpose.name,
                            action="expired",
                            method="admin",
                            occurred_at=moment,
                            actor="scheduler:re-permission",
                            has_evidence=True,
                        )
                        for subject in stale
                    ]
                    self._append(session, pending, db.utcnow())
                    total += len(stale)
        return total

    # ------------------------------------------------------------ eligibility

    def eligibility(
        self,
        addresses: Iterable[str],
        purpose: str,
        *,
        allow_without_evidence: bool = False,
        now: datetime | None = None,
    ) -> Eligibility:
        """Which ``addresses`` (emails or subject ids) may be mailed for ``purpose``, in one query.

        Each excluded one gets a reason: ``erased``, ``suppressed``, ``withdrawn``,
        ``no-consent``, ``unconfirmed``, ``expired`` or ``no-evidence`` (consent
        recorded without evidence; allowed but listed in ``flagged`` when
        ``allow_without_evidence``). Unparseable emails are excluded as ``no-consent``.
        """
        moment = now or db.utcnow()
        subject_of: dict[str, str] = {}
        excluded: dict[str, ExclusionReason] = {}
        for address in addresses:
            # 64 characters without "@" cannot be an address, so it is taken as a subject
            # id; one that is not a well-formed id simply matches no subject.
            if len(address) == HMAC_LENGTH and "@" not in address:
                subject_of[address] = address
                continue
            try:
                subject_of[address] = self.subject_id(address)
            except InvalidInput:
                excluded[address] = "no-consent"
        # Sorted, the probes walk the primary-key B-tree in order instead of at random.
        audience = sorted(set(subject_of.values()))
        with self.database.session() as session:
            months = self._require_purpose(session, purpose, "purpose")
            rows = self._eligibility_rows(session, audience, purpose, months_before(moment, months))
        verdicts = {audience[index]: code for index, code in rows}
        eligible: set[str] = set()
        flagged: set[str] = set()
        no_consent = _VERDICTS.index("no-consent")
        for address, subject in subject_of.items():
            code = verdicts.get(subject, no_consent)
            if code == _ELIGIBLE:
                eligible.add(address)
            elif code == _NO_EVIDENCE and allow_without_evidence:
                eligible.add(address)
                flagged.add(address)
            else:
                excluded[address] = _VERDICTS[code]  # type: ignore[assignment]
        return Eligibility(purpose, frozenset(eligible), excluded, frozenset(flagged))

    def _eligibility_rows(
        self, session: Session, audience: list[str], purpose: str, cutoff: datetime
    ) -> list[tuple[int, int]]:
        """(position in ``audience``, verdict code) for each member the ledger knows.

        One query; positions and small codes travel instead of ids and words, and
        rows come straight from the driver: at a million rows, building result
        objects and sending the ids back cost more than the query itself.
        """
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            # One string split by the server: psycopg would check every element of a
            # list parameter for characters to quote. Ids hold no commas; a malformed
            # input that does falls apart into pieces that match no subject either way.
            audience_rows = (
                "SELECT u.i - 1 AS idx, u.h FROM unnest(string_to_array(%(audience)s, ','))"
                " WITH ORDINALITY AS u(h, i)"
            )
            params: dict[str, Any] = {
                "audience": ",".join(audience),
                "purpose": purpose,
                "cutoff": cutoff,
            }
            placeholder = "%({})s"
        else:
            audience_rows = "SELECT key AS idx, value AS h FROM json_each(:audience)"
            params = {
                "audience": json.dumps(audience),
                "purpose": purpose,
                "cutoff": bulk.sqlite_timestamp(cutoff),
            }
            placeholder = ":{}"
        code = {verdict: number for number, verdict in enumerate(_VERDICTS)}
        # The order of the WHEN branches is the precedence of the exclusion reasons.
        statement = f"""
            SELECT a.idx, CASE
                WHEN x.reason = 'erased' OR s.status = 'erased' THEN {code["erased"]}
                WHEN x.reason IS NOT NULL AND s.status = 'withdrawn' THEN {code["withdrawn"]}
                WHEN x.reason IS NOT NULL THEN {code["suppressed"]}
                WHEN s.status IS NULL THEN {code["no-consent"]}
                WHEN s.status = 'requested' THEN {code["unconfirmed"]}
                WHEN s.status = 'withdrawn' THEN {code["withdrawn"]}
                WHEN s.status = 'expired' THEN {code["expired"]}
                WHEN s.granted_at < {placeholder.format("cutoff")} THEN {code["expired"]}
                WHEN NOT s.has_evidence THEN {code["no-evidence"]}
                ELSE {code["eligible"]}
            END
            FROM ({audience_rows}) AS a
            LEFT JOIN consent_state AS s
                ON s.subject_hmac = a.h AND s.purpose = {placeholder.format("purpose")}
            LEFT JOIN consent_suppressions AS x ON x.subject_hmac = a.h
            WHERE s.subject_hmac IS NOT NULL OR x.subject_hmac IS NOT NULL
            """  # noqa: S608 - only fixed, backend-specific fragments are interpolated
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(statement, params)
            return cursor.fetchall()  # type: ignore[no-any-return]
        finally:
            cursor.close()

    # ------------------------------------------------------------ lookups

    def state(self, address: str, *, now: datetime | None = None) -> list[PurposeState]:
        """Current consent per purpose (empty when the ledger knows nothing of the address)."""
        subject = self.subject_id(address)
        with self.database.session() as session:
            return self._purpose_states(session, subject, now or db.utcnow())

    def _purpose_states(self, session: Session, subject: str, now: datetime) -> list[PurposeState]:
        months = {
            r.name: self._months(r.repermission_months) for r in session.execute(select(purposes))
        }
        suppressed = session.execute(
            select(suppressions.c.reason).where(suppressions.c.subject_hmac == subject)
        ).first()
        result = []
        for row in session.execute(
            select(states).where(states.c.subject_hmac == subject).order_by(states.c.purpose)
        ):
            expires_at = None
            if row.status == "active" and row.granted_at is not None:
                expires_at = _months_after(
                    row.granted_at, months.get(row.purpose, self.settings.repermission_months)
                )
            valid = (
                row.status == "active"
                and suppressed is None
                and bool(row.has_evidence)
                and (expires_at is None or expires_at > now)
            )
            result.append(
                PurposeState(
                    purpose=row.purpose,
                    status=row.status,
                    valid=valid,
                    granted_at=row.granted_at,
                    method=row.method,
                    has_evidence=bool(row.has_evidence),
                    expires_at=expires_at,
                    pending_request=row.pending_request_seq is not None,
                    last_seq=int(row.last_seq),
                    updated_at=row.updated_at,
                )
            )
        return result

    def timeline(self, address: str) -> SubjectTimeline:
        """State per purpose, suppression and every event, personal data decrypted while possible.

        Raises :class:`SubjectNotFound` when the ledger holds nothing about the address.
        """
        subject = self.subject_id(address)
        now = db.utcnow()
        with self.database.session() as session:
            event_rows = session.execute(
                select(events).where(events.c.subject_hmac == subject).order_by(events.c.seq)
            ).all()
            if not event_rows:
                raise SubjectNotFound("the ledger holds no events for this address")
            wrapped = session.execute(
                select(subject_keys.c.wrapped_key).where(subject_keys.c.hmac == subject)
            ).scalar()
            profile = session.execute(select(subjects).where(subjects.c.hmac == subject)).first()
            suppression = session.execute(
                select(suppressions).where(suppressions.c.subject_hmac == subject)
            ).first()
            purpose_states = self._purpose_states(session, subject, now)
        data_key = (
            crypto.unwrap_key(self.keys.master_key, subject, bytes(wrapped)) if wrapped else None
        )
        erased = suppression is not None and suppression.reason == "erased"
        email = None
        if profile is not None and data_key is not None:
            email = crypto.open_email(data_key, subject, bytes(profile.email_ciphertext))
        timeline_events = []
        for row in event_rows:
            personal: dict[str, str] | str | None = None
            if row.personal is not None:
                personal = (
                    crypto.open_personal(data_key, subject, row.personal) if data_key else "erased"
                )
            timeline_events.append(
                TimelineEvent(
                    seq=int(row.seq),
                    purpose=row.purpose,
                    action=row.action,
                    method=row.method,
                    occurred_at=row.occurred_at,
                    recorded_at=row.recorded_at,
                    actor=row.actor,
                    has_evidence=bool(row.has_evidence),
                    text_id=row.text_id,
                    text_sha256=row.text_sha256,
                    form_url=row.form_url,
                    source=row.source,
                    campaign_id=row.campaign_id,
                    leaf_hash=row.leaf_hash,
                    personal=personal,  # type: ignore[arg-type]
                )
            )
        return SubjectTimeline(
            subject=subject,
            email=email,
            erased=erased,
            country=profile.country if profile is not None else None,
            language=profile.language if profile is not None else None,
            timezone=profile.timezone if profile is not None else None,
            states=purpose_states,
            suppression=SuppressionRecord(
                suppression.reason, suppression.purpose, suppression.since, int(suppression.seq)
            )
            if suppression is not None
            else None,
            events=timeline_events,
        )

    def is_suppressed(self, address: str) -> str | None:
        """The suppression reason of an address, or None."""
        subject = self.subject_id(address)
        with self.database.session() as session:
            return session.execute(
                select(suppressions.c.reason).where(suppressions.c.subject_hmac == subject)
            ).scalar()

    # ------------------------------------------------------------ tree heads, proofs

    def make_signed_tree_head(self, *, force: bool = False) -> SignedTreeHead:
        """Sign the current log head; unless ``force``, reuse the latest head if nothing changed."""
        with self.database.session() as session:
            db.serialize(session, LEDGER_LOCK)
            size = log.log_size(session)
            latest = log.latest_tree_head(session)
            if latest is not None and latest.tree_size == size and not force:
                return latest
            return log.sign_tree_head(session, self.keys, db.utcnow())

    def latest_tree_head(self) -> SignedTreeHead:
        """The latest signed tree head; raises :class:`LedgerEmpty` when none was made yet."""
        with self.database.session() as session:
            head = log.latest_tree_head(session)
        if head is None:
            raise LedgerEmpty("no signed tree head yet")
        return head

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> list[str]:
        """Audit path (hex, leaf side first) of event ``seq`` in the tree of ``tree_size``."""
        with self.database.session() as session:
            size = tree_size if tree_size is not None else log.log_size(session)
            path = merkle.inclusion_proof(seq, size, log.node_reader(session))
        return [node.hex() for node in path]

    def proof(self, address: str, *, disclose_personal: bool = False) -> dict[str, Any]:
        """A self-contained proof document for one subject (see ``consent.verify``).

        It holds the subject's events, each with an inclusion proof against one
        signed tree head, the consent texts they cite and the public key; other
        people's events appear only as hashes. ``disclose_personal`` adds the
        subject's own data key so the verifier can show their encrypted data.
        """
        subject = self.subject_id(address)
        with self.database.session() as session:
            rows = (
                session.execute(
                    select(events).where(events.c.subject_hmac == subject).order_by(events.c.seq)
                )
                .mappings()
                .all()
            )
        if not rows:
            raise SubjectNotFound("the ledger holds no events for this address")
        last = int(rows[-1]["seq"])
        with self.database.session() as session:
            head = log.tree_head_covering(session, last)
        if head is None:
            head = self.make_signed_tree_head()
        with self.database.session() as session:
            read = log.node_reader(session)
            entries = [
                {
                    "leaf_index": int(row["seq"]),
                    "event": log.event_document(row),
                    "inclusion_proof": [
                        node.hex()
                        for node in merkle.inclusion_proof(int(row["seq"]), head.tree_size, read)
                    ],
                }
                for row in rows
            ]
            text_ids = sorted({row["text_id"] for row in rows if row["text_id"] is not None})
            texts = [
                _text_record(row)
                for row in session.execute(
                    select(consent_texts).where(consent_texts.c.id.in_(text_ids[:PROOF_TEXT_LIMIT]))
                )
            ]
            wrapped = session.execute(
                select(subject_keys.c.wrapped_key).where(subject_keys.c.hmac == subject)
            ).scalar()
        document: dict[str, Any] = {
            "format": PROOF_FORMAT,
            "subject": subject,
            "public_key": head.public_key,
            "tree_head": head.as_dict(),
            "events": entries,
            "consent_texts": [
                {
                    "id": t.id,
                    "purpose": t.purpose,
                    "version": t.version,
                    "language": t.language,
                    "sha256": t.sha256,
                    "body": t.body,
                }
                for t in texts
            ],
        }
        if disclose_personal and wrapped is not None:
            data_key = crypto.unwrap_key(self.keys.master_key, subject, bytes(wrapped))
            document["subject_key"] = base64.b64encode(data_key).decode("ascii")
        return document

    def verify(self, *, trusted_public_keys: Iterable[bytes] = ()) -> LedgerVerification:
        """Recompute the whole ledger: every leaf, every stored subtree, every signed head.

        Heads must be signed by this ledger's key or one of ``trusted_public_keys``
        (earlier keys after a rotation).
        """
        with self.database.session() as session:
            return log.verify_log(session, [self.keys.public_key, *trusted_public_keys])

    # ------------------------------------------------------------------- import

    def import_csv(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        purpose: str,
        *,
        actor: str = "import",
        check_deliverability: bool = False,
        batch_size: int | None = None,
    ) -> ImportResult:
        """Import a CSV list (see :mod:`consent.importer` for the columns and checks)."""
        return importer.run_import(
            self,
            source,
            purpose,
            actor=_check_actor(actor, "actor"),
            check_deliverability=check_deliverability,
            batch_size=batch_size or self.settings.import_batch_size,
        )


def _recorded(row: dict[str, Any]) -> RecordedEvent:
    return RecordedEvent(
        seq=int(row["seq"]),
        subject=row["subject_hmac"],
        purpose=row["purpose"],
        action=row["action"],
        method=row["method"],
        leaf_hash=row["leaf_hash"],
        occurred_at=row["occurred_at"],
        recorded_at=row["recorded_at"],
    )


def _text_record(row: Any) -> ConsentTextRecord:
    return ConsentTextRecord(
        int(row.id), row.purpose, row.version, row.language, row.body, row.sha256, row.created_at
    )


def _token_kind(token: str) -> str:
    try:
        body = token.split(".", maxsplit=1)[0]
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        kind = payload["k"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TokenInvalid("token", "malformed token") from None
    if kind not in ("confirm", "unsubscribe"):
        raise TokenInvalid("token", "unknown token kind")
    return str(kind)


def _checked_evidence(evidence: Evidence, field_name: str) -> Evidence:
    """``evidence`` with its IP address checked and in canonical form."""
    if evidence.ip is None:
        return evidence
    return dataclasses.replace(evidence, ip=importer.check_ip(evidence.ip, f"{field_name}.ip"))


def _check_actor(value: str, field_name: str) -> str:
    if not value or len(value) > 200:
        raise InvalidInput(field_name, "an actor of 1 to 200 characters is required")
    return value


def _check_language_tag(value: str, field_name: str) -> str:
    return importer.check_language_tag(value, field_name)
