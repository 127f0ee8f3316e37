"""Scheduled housekeeping of the public pages."""

from __future__ import annotations

from datetime import timedelta

from db import utcnow
from web.jobs import scheduled_job
from web.ratelimit import purge_windows
from web.runtime import Runtime


@scheduled_job(
    "public.purge-rate-limit-windows",
    "interval",
    hours=1,
    description="Delete request counters of windows that have ended",
)
def purge_rate_limit_windows(rt: Runtime) -> str:
    cutoff = utcnow() - timedelta(seconds=rt.settings.subscribe_window_seconds)
    with rt.database.session() as session:
        removed = purge_windows(session, cutoff)
    return f"{removed} removed"
