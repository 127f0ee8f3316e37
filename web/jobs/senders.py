"""Daily re-audit of every active sender, recording drift for the dashboard."""

from __future__ import annotations

import logging

from auditor import audit_many
from auditor import registry as senders
from db import utcnow
from web.jobs import scheduled_job
from web.runtime import Runtime

log = logging.getLogger("sendgate.jobs.senders")


@scheduled_job(
    "senders.reaudit",
    "cron",
    hour=3,
    minute=17,
    description="Re-audit every active sender and record findings that appeared or cleared",
)
def reaudit_senders(rt: Runtime) -> str:
    with rt.database.session() as session:
        registered = [
            (s.id, senders.spec_of(s), s.profile)
            for s in senders.list_senders(session, active_only=True)
        ]
    started = utcnow()
    drifted = 0
    # DNS work happens outside any transaction; each profile's senders are audited together.
    for profile in sorted({p for _, _, p in registered}):
        group = [(sid, spec) for sid, spec, p in registered if p == profile]
        audits = audit_many(
            [spec for _, spec in group],
            resolver=rt.dns_resolver,
            dnsbl_zones=rt.settings.dnsbl_zones,
            profile=profile,
            concurrency=8,
        )
        with rt.database.session() as session:
            for (sender_id, _), audit in zip(group, audits, strict=True):
                sender = senders.get_sender(session, sender_id)
                recorded = senders.record_audit(
                    session,
                    sender,
                    audit,
                    started_at=started,
                    trigger="scheduled",
                    actor="scheduler",
                )
                if recorded.drift is not None and recorded.drift.changed:
                    drifted += 1
                    log.warning(
                        "sender %s drifted: %s -> %s",
                        sender.domain,
                        recorded.drift.verdict_before,
                        recorded.drift.verdict_after,
                    )
    return f"{len(registered)} sender(s) audited, {drifted} with drift"
