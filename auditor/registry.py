"""The sender registry: registered senders, their stored audits and drift.

Plain functions over a SQLAlchemy session (no Flask), used by the API, the CLI
and the daily re-audit job. Running an audit (DNS) happens outside any
database transaction; only storing its result takes one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.audit import AuditDrift, SenderAudit, SenderSpec, audit_drift, audit_sender
from auditor.errors import AuditorError
from auditor.models import Sender, SenderDrift, StoredAudit, StoredFinding
from auditor.profiles import DEFAULT_PROFILE, get_profile
from auditor.resolver import DnsResolver
from db import utcnow

TRIGGERS = ("cli", "api", "ui", "scheduled")


class SenderExists(AuditorError):
    """A sender with that domain is registered already."""


class UnknownSender(AuditorError):
    """No registered sender has that id or domain."""


@dataclass(frozen=True)
class RecordedAudit:
    """A stored audit and the drift it showed against the sender's previous audit."""

    audit: StoredAudit
    drift: AuditDrift | None
    result: SenderAudit


def register_sender(
    session: Session, spec: SenderSpec, *, actor: str, profile: str = DEFAULT_PROFILE
) -> Sender:
    """Register a sender; raises :class:`SenderExists` or ``ProfileError``."""
    get_profile(profile)
    if session.scalar(select(Sender.id).where(Sender.domain == spec.domain)) is not None:
        raise SenderExists(f"sender {spec.domain} is registered already")
    sender = Sender(
        domain=spec.domain,
        from_domain=spec.from_domain or spec.domain,
        ips=list(spec.ips),
        dkim_selectors=list(spec.dkim_selectors),
        helo=spec.helo,
        profile=profile,
        active=True,
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(sender)
    session.flush()
    return sender


def spec_of(sender: Sender) -> SenderSpec:
    return SenderSpec(
        domain=sender.domain,
        ips=tuple(sender.ips),
        dkim_selectors=tuple(sender.dkim_selectors),
        helo=sender.helo,
        from_domain=sender.from_domain,
    )


def get_sender(session: Session, key: int | str) -> Sender:
    """A sender by numeric id or by domain."""
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        sender = session.get(Sender, int(key))
    else:
        sender = session.scalar(select(Sender).where(Sender.domain == key.strip().lower()))
    if sender is None:
        raise UnknownSender(f"no registered sender {key!r}")
    return sender


def list_senders(session: Session, *, active_only: bool = False) -> list[Sender]:
    query = select(Sender).order_by(Sender.domain)
    if active_only:
        query = query.where(Sender.active.is_(True))
    return list(session.scalars(query))


def latest_audit(session: Session, sender: Sender) -> StoredAudit | None:
    return session.scalar(
        select(StoredAudit)
        .where(StoredAudit.sender_id == sender.id)
        .order_by(StoredAudit.id.desc())
    )


def record_audit(
    session: Session,
    sender: Sender,
    audit: SenderAudit,
    *,
    started_at: datetime,
    trigger: str,
    actor: str,
) -> RecordedAudit:
    """Store an audit with its findings, and the drift against the previous one if any."""
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {TRIGGERS}")
    if audit.domain != sender.domain:
        raise ValueError(f"audit of {audit.domain} cannot be stored for sender {sender.domain}")
    previous = latest_audit(session, sender)
    result = audit.to_dict()
    stored = StoredAudit(
        sender_id=sender.id,
        started_at=started_at,
        finished_at=utcnow(),
        verdict=audit.verdict,
        profile=audit.profile,
        trigger=trigger,
        actor=actor,
        dns_lookups=audit.dns_lookups,
        result=result,
    )
    session.add(stored)
    session.flush()
    session.add_all(
        StoredFinding(
            audit_id=stored.id,
            code=f["code"],
            severity=f["severity"],
            subject=str((f.get("evidence") or {}).get("subject", "domain"))[:300],
        )
        for f in result["findings"]
    )
    drift = None
    if previous is not None:
        drift = audit_drift(previous.result, result)
        if drift.changed:
            data = drift.to_dict()
            session.add(
                SenderDrift(
                    sender_id=sender.id,
                    audit_id=stored.id,
                    previous_audit_id=previous.id,
                    detected_at=stored.finished_at,
                    verdict_before=drift.verdict_before,
                    verdict_after=drift.verdict_after,
                    appeared=data["appeared"],
                    cleared=data["cleared"],
                )
            )
    return RecordedAudit(stored, drift, audit)


def audit_registered(
    session: Session,
    key: int | str,
    *,
    resolver: DnsResolver,
    dnsbl_zones: Sequence[str] | None,
    trigger: str,
    actor: str,
) -> RecordedAudit:
    """Audit the registered sender ``key`` now and store the result.

    The session's current transaction is ended before the DNS work, so no
    database transaction (or lock) is held while waiting for name servers.
    """
    sender = get_sender(session, key)
    spec, profile = spec_of(sender), sender.profile
    session.rollback()
    started = utcnow()
    audit = audit_sender(spec, resolver=resolver, dnsbl_zones=dnsbl_zones, profile=profile)
    return record_audit(
        session, get_sender(session, key), audit, started_at=started, trigger=trigger, actor=actor
    )


def audit_history(session: Session, sender: Sender, *, limit: int = 50) -> list[StoredAudit]:
    return list(
        session.scalars(
            select(StoredAudit)
            .where(StoredAudit.sender_id == sender.id)
            .order_by(StoredAudit.id.desc())
            .limit(limit)
        )
    )


def get_audit(session: Session, audit_id: int) -> StoredAudit | None:
    return session.get(StoredAudit, audit_id)


def recent_drift(
    session: Session, *, sender: Sender | None = None, limit: int = 50
) -> Sequence[SenderDrift]:
    query = select(SenderDrift).order_by(SenderDrift.id.desc()).limit(limit)
    if sender is not None:
        query = query.where(SenderDrift.sender_id == sender.id)
    return list(session.scalars(query))
