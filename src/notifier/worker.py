"""arq worker settings: ``arq notifier.worker.WorkerSettings`` or ``notifier worker``.

``WorkerSettings`` is built on first access (PEP 562 module ``__getattr__``) from the
environment, so importing this module builds nothing and a bad setting fails at start with
the variable's name. It is one flat class: arq reads ``cls.__dict__`` and ignores parents.
Crons run in UTC (arq misfires around DST otherwise); local time is our code's business.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

import redis.exceptions
from arq.connections import RedisSettings
from arq.cron import CronJob, cron
from arq.worker import Function, func
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from notifier.config import Settings, settings_from_environment
from notifier.jobs.arq_jobs import job_function
from notifier.jobs.context import JobContext
from notifier.jobs.fanout import (
    BATCH_FUNCTION,
    BATCH_MAX_TRIES,
    BATCH_TIMEOUT_SECONDS,
    LEGACY_BATCH_FUNCTION,
    process_batch,
    take_batch,
)
from notifier.jobs.registry import tick_functions
from notifier.logs import configure_logging
from notifier.rules.kinds import JOB_NAMES
from notifier.runtime import close_runtime, open_runtime
from notifier.services.tz_reset import TzResets
from notifier.timemath.cron import parse_cron
from notifier.timemath.tz_database import use_tz_database

StartupHook = Callable[[JobContext], Awaitable[None]]
CRON_KEEP_RESULT_SECONDS = 300  # stops arq's duplicate cron runs (arq issue #196)
CRON_TIMEOUT_SECONDS = 600
SHUTDOWN_GRACE_SECONDS = 30


def utc_now() -> datetime:
    """The real clock; the job layer hands it to the services."""
    return datetime.now(UTC)


def redis_settings(url: str) -> RedisSettings:
    """Redis with retries, so a running worker rides out a Redis restart (arq issue #498)."""
    settings = RedisSettings.from_dsn(url)
    settings.retry = Retry(ExponentialBackoff(cap=2, base=0.1), 30)
    settings.retry_on_error = [
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        OSError,
    ]
    settings.retry_on_timeout = True
    settings.conn_retries = 30
    return settings


def enabled_jobs(settings: Settings) -> list[str]:
    """Jobs switched on that this build implements."""
    known = tick_functions()
    return [job for job in JOB_NAMES if job in known and settings.job_enabled(job)]


def cron_job(job: str, expression: str) -> CronJob:
    """One job's arq cron in UTC, keeping its result so a late duplicate enqueue is refused."""
    spec = parse_cron(expression).arq_options()
    return cron(
        cast(Any, job_function(job)),
        name=f"cron:{job}",
        month=spec["month"],
        day=spec["day"],
        weekday=spec["weekday"],
        hour=spec["hour"],
        minute=spec["minute"],
        keep_result=CRON_KEEP_RESULT_SECONDS,
        timeout=CRON_TIMEOUT_SECONDS,
        max_tries=1,
    )


def cron_jobs(settings: Settings) -> list[CronJob]:
    return [cron_job(job, settings.job_schedule(job)) for job in enabled_jobs(settings)]


def job_schedules(settings: Settings) -> dict[str, str]:
    """Enabled job → its cron expression; what ``/health`` measures staleness against."""
    return {job: settings.job_schedule(job) for job in enabled_jobs(settings)}


def batch_function() -> Function:
    """The fan-out's token: takes the most urgent batch of the lanes (``jobs.lanes``). Its
    result is not kept: the batch ids, kept in the lanes, are what refuses a repeated tick."""
    return func(
        cast(Any, take_batch),
        name=BATCH_FUNCTION,
        keep_result=0,
        timeout=BATCH_TIMEOUT_SECONDS,
        max_tries=BATCH_MAX_TRIES,
    )


def legacy_batch_function() -> Function:
    """Batches enqueued as arq jobs by a version before the lanes, still run during an
    upgrade (their payload is the same)."""
    return func(
        cast(Any, process_batch),
        name=LEGACY_BATCH_FUNCTION,
        timeout=BATCH_TIMEOUT_SECONDS,
        max_tries=BATCH_MAX_TRIES,
    )


def lifecycle(settings: Settings) -> tuple[StartupHook, StartupHook]:
    """arq's startup and shutdown hooks, for the plain ``arq notifier.worker.WorkerSettings``.

    ``notifier worker`` builds the runtime itself and passes ``services`` in the context, so
    that it outlives arq restarts; then these hooks leave it alone. Either way the start
    checks, in a task beside the ticks, whether the copy's next-send instants were computed
    with an older tz database (``services.tz_reset``), and the stop ends that task.
    """
    tz_resets = TzResets()

    async def startup(ctx: JobContext) -> None:
        if "services" not in ctx:
            configure_logging(settings.log_level)
            use_tz_database(settings.tz_database)  # as the notifier command does at its start
            runtime = await open_runtime(settings, utc_now, job_schedules(settings))
            ctx["services"], ctx["runtime"] = runtime.services, runtime
        tz_resets.start(ctx["services"].engine)

    async def shutdown(ctx: JobContext) -> None:
        await tz_resets.stop()
        if "runtime" in ctx:
            await close_runtime(ctx.pop("runtime"))

    return startup, shutdown


def build_worker_settings(settings: Settings) -> type:
    """The flat settings class arq expects."""
    startup, shutdown = lifecycle(settings)
    attributes: dict[str, Any] = {
        "functions": [
            *(job_function(job) for job in tick_functions()),
            batch_function(),
            legacy_batch_function(),
        ],
        "cron_jobs": cron_jobs(settings),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(settings.redis_url.get_secret_value()),
        "timezone": UTC,
        "health_check_interval": 30,
        "health_check_key": f"arq:health:{socket.gethostname()}:{os.getpid()}",
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": settings.worker_poll_delay_seconds,
        "job_timeout": CRON_TIMEOUT_SECONDS,
        "job_completion_wait": SHUTDOWN_GRACE_SECONDS,
        "allow_abort_jobs": False,
    }
    return type("WorkerSettings", (), attributes)


def __getattr__(name: str) -> Any:
    if name == "WorkerSettings":
        return build_worker_settings(settings_from_environment())
    raise AttributeError(name)
