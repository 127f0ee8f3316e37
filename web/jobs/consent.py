"""Scheduled work of the consent ledger."""

from __future__ import annotations

import logging

from web.jobs import scheduled_job
from web.runtime import Runtime

log = logging.getLogger("sendgate.jobs.consent")


@scheduled_job(
    "consent.signed-tree-head",
    "interval",
    hours=1,
    description="Sign the consent log's head when it grew",
)
def sign_tree_head(rt: Runtime) -> str:
    head = rt.consent.make_signed_tree_head()
    return f"head at size {head.tree_size}"


@scheduled_job(
    "consent.verify",
    "cron",
    hour=2,
    minute=30,
    description="Verify every leaf, the tree and every signed head",
)
def verify_ledger(rt: Runtime) -> str:
    result = rt.consent.verify()
    if not result.ok:
        # Loud on purpose: a failed verification means the record was tampered with.
        log.critical(
            "consent ledger verification FAILED at seq %s: %s", result.first_bad_seq, result.reason
        )
        return f"FAILED at seq {result.first_bad_seq}"
    return f"ok, {result.size} events"


@scheduled_job(
    "consent.expiry",
    "cron",
    hour=1,
    minute=45,
    description="Expire consent older than the re-permission policy",
)
def expire_consents(rt: Runtime) -> str:
    return f"{rt.consent.expire_stale_consents()} consent(s) expired"


@scheduled_job(
    "consent.purge-tokens", "interval", hours=6, description="Delete expired double opt-in tokens"
)
def purge_tokens(rt: Runtime) -> str:
    return f"{rt.consent.purge_expired_tokens()} token(s) purged"


@scheduled_job(
    "consent.run-imports",
    "interval",
    minutes=1,
    description="Run queued list imports and resume any whose runner stopped",
)
def run_imports(rt: Runtime) -> str | None:
    ran = rt.imports.run_pending()
    return f"{len(ran)} import(s) run" if ran else None
