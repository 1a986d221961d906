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
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from notifier.app import close_services, open_services
from notifier.config import JOB_NAMES, Settings
from notifier.health.server import HealthContext, start_health_server
from notifier.jobs.arq_jobs import job_function
from notifier.jobs.registry import tick_functions
from notifier.logs import configure_logging
from notifier.timemath.cron import parse_cron

StartupHook = Callable[[dict[str, Any]], Awaitable[None]]
CRON_KEEP_RESULT_SECONDS = 300  # stops arq's duplicate cron runs (arq issue #196)
CRON_TIMEOUT_SECONDS = 600


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


def lifecycle(settings: Settings) -> tuple[StartupHook, StartupHook]:
    """arq's startup and shutdown hooks: build everything on start, close it all on stop."""

    async def startup(ctx: dict[str, Any]) -> None:
        configure_logging(settings.log_level)
        services = open_services(settings, utc_now)
        ctx["services"] = services
        schedules = {job: settings.job_schedule(job) for job in enabled_jobs(settings)}
        health = HealthContext(
            services.engine, ctx["redis"], services.metrics, schedules, utc_now, utc_now()
        )
        ctx["health"] = await start_health_server(
            health, settings.health_host, settings.health_port
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "health" in ctx:
            await ctx["health"].cleanup()
        if "services" in ctx:
            await close_services(ctx["services"])

    return startup, shutdown


def build_worker_settings(settings: Settings) -> type:
    """The flat settings class arq expects."""
    startup, shutdown = lifecycle(settings)
    attributes: dict[str, Any] = {
        "functions": [job_function(job) for job in tick_functions()],
        "cron_jobs": cron_jobs(settings),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(settings.redis_url.get_secret_value()),
        "timezone": UTC,
        "health_check_interval": 30,
        "health_check_key": f"arq:health:{socket.gethostname()}:{os.getpid()}",
        "max_jobs": 20,
        "job_timeout": CRON_TIMEOUT_SECONDS,
        "job_completion_wait": 30,
        "allow_abort_jobs": False,
    }
    return type("WorkerSettings", (), attributes)


def __getattr__(name: str) -> Any:
    if name == "WorkerSettings":
        return build_worker_settings(Settings())
    raise AttributeError(name)
