"""Vocabulary, settings and the result records the consent ledger hands to other packages."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

ACTIONS = ("requested", "confirmed", "granted", "withdrawn", "expired", "erased")
METHODS = (
    "double-opt-in",
    "form",
    "import",
    "api",
    "one-click-unsubscribe",
    "complaint",
    "hard-bounce",
    "admin",
)
# Methods by which a withdrawal puts the address on the suppression list with that reason.
SUPPRESSING_METHODS = ("complaint", "hard-bounce")

Status = Literal["requested", "active", "withdrawn", "expired", "erased"]
ExclusionReason = Literal[
    "no-consent", "unconfirmed", "withdrawn", "expired", "suppressed", "erased", "no-evidence"
]


@dataclass(frozen=True)
class ConsentSettings:
    """Policy the web layer passes in from configuration."""

    optin_token_ttl: timedelta = timedelta(hours=72)
    repermission_months: int = 24  # default; a purpose may override it
    clock_skew: timedelta = timedelta(minutes=5)
    base_url: str = "http://localhost:8000"
    # Address for the mailto: form of List-Unsubscribe; None leaves only the https form.
    unsubscribe_mailto: str | None = None
    import_batch_size: int = 5000
    # Confirmation mails one address may be sent per purpose in OPTIN_REQUEST_WINDOW:
    # the hosted form must not become a way to flood someone's mailbox.
    optin_requests_per_day: int = 3


@dataclass(frozen=True)
class Evidence:
    """What backs an event: the consent text shown, where, from which machine and system.

    ``ip`` and ``user_agent`` are personal data and stored encrypted; the text is
    named by id, or by ``text_version`` (+ the event's purpose and ``text_language``).
    """

    text_id: int | None = None
    text_version: str | None = None
    text_language: str | None = None
    form_url: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    source: str | None = None
    campaign_id: str | None = None

    @property
    def is_empty(self) -> bool:
        return not any(
            (self.text_id, self.text_version, self.form_url, self.ip, self.user_agent, self.source)
        )


@dataclass(frozen=True)
class EventInput:
    """One event to record. ``address`` is an email address or a subject id (hex HMAC)."""

    address: str
    purpose: str | None
    action: str
    method: str
    evidence: Evidence = field(default_factory=Evidence)
    occurred_at: datetime | None = None  # None: now
    actor: str = "api"
    name: str | None = None  # the person's name, stored encrypted


@dataclass(frozen=True)
class RecordedEvent:
    """An appended event: its place in the log and its RFC 6962 leaf hash (hex)."""

    seq: int
    subject: str
    purpose: str | None
    action: str
    method: str
    leaf_hash: str
    occurred_at: datetime
    recorded_at: datetime


@dataclass(frozen=True)
class ConsentTextRecord:
    id: int
    purpose: str
    version: str
    language: str
    body: str
    sha256: str
    created_at: datetime


@dataclass(frozen=True)
class PurposeRecord:
    name: str
    description: str
    repermission_months: int  # effective: the purpose's own or the default


@dataclass(frozen=True)
class PurposeState:
    """Current consent of a subject for one purpose.

    ``valid`` is what a sender may act on: active, with evidence (or evidence
    not required by the caller), not past re-permission, address not suppressed.
    """

    purpose: str
    status: Status
    valid: bool
    granted_at: datetime | None
    method: str | None
    has_evidence: bool
    expires_at: datetime | None
    pending_request: bool
    last_seq: int
    updated_at: datetime


@dataclass(frozen=True)
class SuppressionRecord:
    reason: str
    purpose: str | None
    since: datetime
    seq: int


@dataclass(frozen=True)
class TimelineEvent:
    """One event as a compliance officer reads it; personal data decrypted when the key exists."""

    seq: int
    purpose: str | None
    action: str
    method: str
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    has_evidence: bool
    text_id: int | None
    text_sha256: str | None
    form_url: str | None
    source: str | None
    campaign_id: str | None
    leaf_hash: str
    # Decrypted personal data ({"email", "ip", "user_agent", "name"} as recorded), None when
    # the event carried none, or the string "erased" once the subject key is gone.
    personal: dict[str, str] | Literal["erased"] | None


@dataclass(frozen=True)
class SubjectTimeline:
    subject: str
    email: str | None  # None when erased or never known (events recorded by id only)
    erased: bool
    country: str | None
    language: str | None
    timezone: str | None
    states: list[PurposeState]
    suppression: SuppressionRecord | None
    events: list[TimelineEvent]


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    root_hash: str  # hex
    timestamp_ms: int
    public_key: str  # base64 raw Ed25519
    signature: str  # base64

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp_ms": self.timestamp_ms,
            "signature": self.signature,
        }


@dataclass(frozen=True)
class LedgerVerification:
    """Outcome of a full ledger check. ``first_bad_seq`` locates the earliest damage."""

    ok: bool
    size: int
    first_bad_seq: int | None
    reason: str | None
    tree_heads_checked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Eligibility:
    """Who of an audience may be mailed for a purpose, and why each other one may not.

    Keys are the addresses exactly as given (email or subject id). ``flagged``
    lists eligible ones whose consent lacks evidence (only when the caller allowed it).
    """

    purpose: str
    eligible: frozenset[str]
    excluded: dict[str, ExclusionReason]
    flagged: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str


@dataclass(frozen=True)
class ImportResult:
    accepted: int
    duplicates: int
    rejected: list[RejectedRow]
    without_evidence: int
    ignored_columns: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "without_evidence": self.without_evidence,
            "ignored_columns": self.ignored_columns,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
        }


@dataclass(frozen=True)
class ImportJobRecord:
    """A background import: where it stands, and its counts so far."""

    id: str
    purpose: str
    actor: str
    status: Literal["queued", "running", "done", "failed"]
    total_lines: int
    lines_read: int
    accepted: int
    duplicates: int
    without_evidence: int
    rejected: int
    ignored_columns: list[str]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    def as_dict(self) -> dict[str, Any]:
        data_lines = max(0, self.total_lines - 1)
        return {
            "id": self.id,
            "purpose": self.purpose,
            "status": self.status,
            "progress": {
                "lines": data_lines,
                "lines_read": max(0, min(self.lines_read - 1, data_lines)),
            },
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "without_evidence": self.without_evidence,
            "rejected_count": self.rejected,
            "ignored_columns": self.ignored_columns,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True)
class OptInRequest:
    """A recorded ``requested`` event and the token to send in the confirmation mail."""

    token: str
    event: RecordedEvent
    expires_at: datetime
    confirm_url: str


@dataclass(frozen=True)
class TokenInfo:
    """What a confirmation or unsubscribe token refers to (for the page before the POST)."""

    kind: Literal["confirm", "unsubscribe"]
    subject: str
    purpose: str
    campaign_id: str | None
    expires_at: datetime | None
    used: bool


def jsonable(value: Any) -> Any:
    """A record (or list/dict of them) as JSON-ready data: timestamps in ISO 8601, sets sorted."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
