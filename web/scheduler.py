"""The scheduler process: APScheduler 3 with its job store in the service database."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from web.jobs import bind_runtime, load_jobs, run_job
from web.runtime import Runtime

log = logging.getLogger("sendgate.scheduler")


def build_scheduler(rt: Runtime) -> BackgroundScheduler:
    """A scheduler over the job registry, storing its jobs in the service database."""
    bind_runtime(rt)
    # run_job logs what each job did; APScheduler's own two lines per run (every minute
    # for the import job) would bury it. Its errors, with tracebacks, still show.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=rt.database.engine)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=rt.settings.scheduler_timezone,
    )
    for spec in load_jobs().values():
        scheduler.add_job(
            run_job,
            spec.trigger,
            args=[spec.id],
            id=spec.id,
            name=spec.description or spec.id,
            replace_existing=True,
            **spec.trigger_args,
        )
    return scheduler


def prune_unregistered(scheduler: BaseScheduler) -> list[str]:
    """Remove stored jobs whose id is no longer registered (a feature dropped a job)."""
    registered = set(load_jobs())
    removed = [job.id for job in scheduler.get_jobs() if job.id not in registered]
    for job_id in removed:
        scheduler.remove_job(job_id)
    return removed


def run_scheduler(rt: Runtime) -> None:
    """Run until SIGTERM or SIGINT. Exactly one scheduler process should run per deployment."""
    scheduler = build_scheduler(rt)
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping the scheduler", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
    for job_id in prune_unregistered(scheduler):
        log.info("removed job %s: no longer registered", job_id)
    for job in scheduler.get_jobs():
        log.info("job %s next runs at %s", job.id, job.next_run_time)
    stopping.wait()
    scheduler.shutdown(wait=True)
