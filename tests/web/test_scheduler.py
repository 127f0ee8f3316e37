"""The job registry and the scheduler's persistent store."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text

from db import utcnow
from web.accounts import LoginAttempt
from web.jobs import REGISTRY, bind_runtime, load_jobs, run_job
from web.runtime import Runtime
from web.scheduler import build_scheduler, prune_unregistered


def test_registered_jobs_land_in_the_database_store(app) -> None:
    rt: Runtime = app.extensions["sendgate"]
    scheduler = build_scheduler(rt)
    scheduler.start(paused=True)
    try:
        stored = {job.id for job in scheduler.get_jobs()}
        assert stored == set(load_jobs())
        assert "accounts.purge-login-attempts" in stored
    finally:
        scheduler.shutdown(wait=False)
    with rt.database.session() as session:
        rows = session.execute(text("SELECT id FROM apscheduler_jobs")).scalars().all()
    assert "accounts.purge-login-attempts" in rows


def test_jobs_no_longer_registered_are_pruned(app) -> None:
    rt: Runtime = app.extensions["sendgate"]
    scheduler = build_scheduler(rt)
    scheduler.start(paused=True)
    try:
        scheduler.add_job(run_job, "interval", hours=1, args=["gone.job"], id="gone.job")
        assert prune_unregistered(scheduler) == ["gone.job"]
        assert "gone.job" not in {job.id for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)


def test_purge_job_deletes_only_old_attempts(app) -> None:
    rt: Runtime = app.extensions["sendgate"]
    now = utcnow()
    with rt.database.session() as session:
        session.add(
            LoginAttempt(account_key="a", client_key="c", attempted_at=now - timedelta(days=2))
        )
        session.add(LoginAttempt(account_key="a", client_key="c", attempted_at=now))
    bind_runtime(rt)
    assert run_job("accounts.purge-login-attempts") == "1 removed"
    with rt.database.session() as session:
        assert session.scalar(select(func.count(LoginAttempt.id))) == 1
    assert REGISTRY["accounts.purge-login-attempts"].trigger == "interval"
