"""Tables of the consent ledger (schema created by consent/migrations, not by create_all).

Append-only tables (events, tree nodes, tree heads, consent texts) are guarded
by database triggers that refuse UPDATE and DELETE. Subjects and their keys are
deletable: erasure removes the key, which shreds every ciphertext made with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, UTCDateTime

LEDGER_LOCK = "consent-ledger"
HMAC_LENGTH = 64  # hex SHA-256


class Purpose(Base):
    """A processing purpose consent is given for, with its re-permission policy."""

    __tablename__ = "consent_purposes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # None: the service-wide default applies.
    repermission_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsentText(Base):
    """One version of the text shown to a person when asking for consent (immutable)."""

    __tablename__ = "consent_texts"
    __table_args__ = (UniqueConstraint("purpose", "version", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    purpose: Mapped[str] = mapped_column(ForeignKey("consent_purposes.name"))
    version: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(35))
    body: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Subject(Base):
    """A person's address, encrypted with the subject's own data key."""

    __tablename__ = "consent_subjects"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_with_rowid": False}

    hmac: Mapped[str] = mapped_column(String(HMAC_LENGTH), primary_key=True)
    email_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    name_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    language: Mapped[str | None] = mapped_column(String(35), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SubjectKey(Base):
    """A subject's data key wrapped by the master key; deleting it is the erasure."""

    __tablename__ = "consent_subject_keys"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_with_rowid": False}

    hmac: Mapped[str] = mapped_column(String(HMAC_LENGTH), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """One append-only ledger entry; ``seq`` is its leaf index in the Merkle log."""

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_subject_seq", "subject_hmac", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    subject_hmac: Mapped[str] = mapped_column(String(HMAC_LENGTH))
    purpose: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(32))
    text_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    form_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    campaign_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # base64 AES-GCM ciphertext of the event's personal data, under the subject's key.
    personal: Mapped[str | None] = mapped_column(Text, nullable=True)
    has_evidence: Mapped[bool] = mapped_column(Boolean)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    leaf_hash: Mapped[str] = mapped_column(String(64))


class TreeNode(Base):
    """The hash of one complete subtree of the log (level 0: a leaf)."""

    __tablename__ = "consent_tree_nodes"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_with_rowid": False}

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class TreeHead(Base):
    """A signed tree head: the log's size and root at a moment, signed with Ed25519."""

    __tablename__ = "consent_tree_heads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class State(Base):
    """Current consent of one subject for one purpose, maintained with every append."""

    __tablename__ = "consent_state"
    __table_args__ = (
        Index("ix_consent_state_purpose_status", "purpose", "status", "granted_at"),
        {"sqlite_with_rowid": False},
    )

    subject_hmac: Mapped[str] = mapped_column(String(HMAC_LENGTH), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    # requested | active | withdrawn | expired | erased
    status: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    granted_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    has_evidence: Mapped[bool] = mapped_column(Boolean)
    pending_request_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Suppression(Base):
    """An address that must never be mailed, and why."""

    __tablename__ = "consent_suppressions"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_with_rowid": False}

    subject_hmac: Mapped[str] = mapped_column(String(HMAC_LENGTH), primary_key=True)
    # withdrawn | complaint | hard-bounce | erased | admin
    reason: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str | None] = mapped_column(String(64), nullable=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    seq: Mapped[int] = mapped_column(BigInteger)


class OptInToken(Base):
    """An issued double-opt-in token, kept to make it single-use."""

    __tablename__ = "consent_optin_tokens"
    __table_args__ = (
        Index("ix_consent_optin_tokens_subject", "subject_hmac", "purpose", "issued_at"),
    )

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_hmac: Mapped[str] = mapped_column(String(HMAC_LENGTH))
    purpose: Mapped[str] = mapped_column(String(64))
    request_seq: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # None for tokens issued before issued_at was recorded.
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ImportJob(Base):
    """A CSV list submitted for import in the background, and how far it got.

    Progress is written in the same transaction as each batch, so an import cut
    off by a crash resumes after the last line that was settled.
    """

    __tablename__ = "consent_imports"
    __table_args__ = (Index("ix_consent_imports_status", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    check_deliverability: Mapped[bool] = mapped_column(Boolean)
    # queued | running | done | failed
    status: Mapped[str] = mapped_column(String(16))
    total_lines: Mapped[int] = mapped_column(BigInteger)  # header included
    lines_read: Mapped[int] = mapped_column(BigInteger)
    accepted: Mapped[int] = mapped_column(BigInteger)
    duplicates: Mapped[int] = mapped_column(BigInteger)
    without_evidence: Mapped[int] = mapped_column(BigInteger)
    rejected: Mapped[int] = mapped_column(BigInteger)
    ignored_columns: Mapped[str] = mapped_column(Text)  # JSON list
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)  # runs started, resumptions included
    # The sealed upload's key, wrapped by the master key; None once the import ended
    # and the file was deleted.
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ImportRejection(Base):
    """One rejected row of a background import (reasons never quote the row)."""

    __tablename__ = "consent_import_rejections"

    import_id: Mapped[str] = mapped_column(ForeignKey("consent_imports.id"), primary_key=True)
    line: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(Text)


events = Event.__table__
tree_nodes = TreeNode.__table__
tree_heads = TreeHead.__table__
states = State.__table__
suppressions = Suppression.__table__
subjects = Subject.__table__
subject_keys = SubjectKey.__table__
optin_tokens = OptInToken.__table__
purposes = Purpose.__table__
consent_texts = ConsentText.__table__
imports = ImportJob.__table__
import_rejections = ImportRejection.__table__
