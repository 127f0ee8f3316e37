"""Scheduled housekeeping of the accounts area."""

from __future__ import annotations

from datetime import timedelta

from db import utcnow
from web.accounts.service import purge_login_attempts
from web.jobs import scheduled_job
from web.runtime import Runtime


@scheduled_job(
    "accounts.purge-login-attempts",
    "interval",
    hours=1,
    description="Delete failed-login records older than the throttling window",
)
def purge_old_login_attempts(rt: Runtime) -> str:
    cutoff = utcnow() - timedelta(seconds=rt.settings.login_window_seconds)
    with rt.database.session() as session:
        removed = purge_login_attempts(session, cutoff)
    return f"{removed} removed"
