"""The registry of scheduled jobs.

A feature declares a job with :func:`scheduled_job` in a module listed in
``JOB_MODULES``; the scheduler process (``sendgate scheduler``) loads them all
and keeps the persistent job store in step with this registry. A job function
takes the process :class:`~web.runtime.Runtime` and returns a short summary.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from web.runtime import Runtime

log = logging.getLogger("sendgate.jobs")

# Modules that declare jobs; importing them fills REGISTRY.
JOB_MODULES = ["web.jobs.accounts", "web.jobs.consent", "web.jobs.public", "web.jobs.senders"]

JobFunction = Callable[[Runtime], str | None]


@dataclass(frozen=True)
class JobSpec:
    id: str
    function: JobFunction
    trigger: str  # "interval" or "cron", as APScheduler names them
    trigger_args: dict[str, Any] = field(default_factory=dict)
    description: str = ""


REGISTRY: dict[str, JobSpec] = {}


def scheduled_job(
    job_id: str, trigger: str, *, description: str, **trigger_args: Any
) -> Callable[[JobFunction], JobFunction]:
    """Declare ``function`` as the scheduled job ``job_id`` (e.g. ``"consent.expiry"``)."""
    if trigger not in {"interval", "cron"}:
        raise ValueError(f"job {job_id}: trigger must be 'interval' or 'cron'")

    def register(function: JobFunction) -> JobFunction:
        if job_id in REGISTRY and REGISTRY[job_id].function is not function:
            raise ValueError(f"job {job_id} is declared twice")
        REGISTRY[job_id] = JobSpec(job_id, function, trigger, trigger_args, description)
        return function

    return register


def load_jobs() -> dict[str, JobSpec]:
    for module in JOB_MODULES:
        importlib.import_module(module)
    return REGISTRY


_runtime: Runtime | None = None


def bind_runtime(rt: Runtime) -> None:
    """Give job runs in this process their runtime (called once by the scheduler)."""
    global _runtime  # noqa: PLW0603 - one runtime per scheduler process, set at start
    _runtime = rt


def run_job(job_id: str) -> str | None:
    """Entry point stored in the job store: runs the registered job by id.

    Storing only the id keeps persisted jobs valid when a job function moves.
    """
    if _runtime is None:
        raise RuntimeError("no runtime bound; jobs run inside `sendgate scheduler`")
    spec = load_jobs().get(job_id)
    if spec is None:
        log.error("job %s is no longer registered; skipped", job_id)
        return None
    summary = spec.function(_runtime)
    # A frequent job that found nothing to do returns None and stays out of the log.
    log.log(
        logging.INFO if summary else logging.DEBUG,
        "job %s done%s",
        job_id,
        f": {summary}" if summary else "",
    )
    return summary
