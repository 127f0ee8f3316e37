"""Tables of the sender registry: senders, their stored audits, findings and drift."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db import Base, UTCDateTime, utcnow


class Sender(Base):
    """A registered sender: its domain and the fixed infrastructure it sends from."""

    __tablename__ = "senders"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    from_domain: Mapped[str] = mapped_column(String(253))
    ips: Mapped[list[str]] = mapped_column(JSON, default=list)
    dkim_selectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    helo: Mapped[str | None] = mapped_column(String(253), nullable=True)
    profile: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    audits: Mapped[list[StoredAudit]] = relationship(
        back_populates="sender", order_by="StoredAudit.id.desc()"
    )


class StoredAudit(Base):
    """One audit run of a sender, with its full result as produced by ``SenderAudit.to_dict``."""

    __tablename__ = "sender_audits"
    __table_args__ = (Index("ix_sender_audits_sender", "sender_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("senders.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verdict: Mapped[str] = mapped_column(String(8))
    profile: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    dns_lookups: Mapped[int] = mapped_column(Integer)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)

    sender: Mapped[Sender] = relationship(back_populates="audits")
    findings: Mapped[list[StoredFinding]] = relationship(back_populates="audit")


class StoredFinding(Base):
    """A finding of a stored audit, one row each so posture over time can be queried."""

    __tablename__ = "sender_audit_findings"
    __table_args__ = (Index("ix_sender_audit_findings_code", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("sender_audits.id"))
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))

    audit: Mapped[StoredAudit] = relationship(back_populates="findings")


class SenderDrift(Base):
    """Findings that appeared or cleared between two consecutive audits of a sender."""

    __tablename__ = "sender_drift"
    __table_args__ = (Index("ix_sender_drift_detected", "detected_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("senders.id"))
    audit_id: Mapped[int] = mapped_column(ForeignKey("sender_audits.id"))
    previous_audit_id: Mapped[int] = mapped_column(ForeignKey("sender_audits.id"))
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verdict_before: Mapped[str] = mapped_column(String(8))
    verdict_after: Mapped[str] = mapped_column(String(8))
    appeared: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    cleared: Mapped[list[dict[str, Any]]] = mapped_column(JSON)

    sender: Mapped[Sender] = relationship()
