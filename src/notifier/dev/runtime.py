"""The dev run's process-wide objects: services, health server (mode "dev"), arq settings.

Built from the same pieces as ``notifier worker`` (``open_services``, the health server,
``build_worker_settings``) so dev mode runs the real code; only the Redis client, the
``mode`` and the cron options differ. Everything opened is registered on the caller's exit
stack, so a failure half-way, or Ctrl-C, closes exactly what was opened, in reverse order.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable
from typing import TypeVar

from arq.cron import CronJob
from redis.asyncio import Redis

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.dev.fake_redis import FakeRedis
from notifier.dev.standins import DEV_CRON_PREFIX, DEV_QUEUE_NAME
from notifier.health.server import HealthContext, start_health_server
from notifier.worker import build_worker_settings, job_schedules, utc_now

DEV_MODE = "dev"
T = TypeVar("T")


class DevStartError(Exception):
    """A reason not to start that the user can act on; printed without a traceback."""


async def listen(what: str, port: int, starting: Awaitable[T]) -> T:
    """Awaits a server start, turning "address in use" into an actionable message."""
    try:
        return await starting
    except OSError as exc:
        raise DevStartError(
            f"cannot listen on port {port} for the {what}: {exc.strerror}"
        ) from None


def _probe(settings: Settings, redis: FakeRedis | None) -> Redis:
    if redis is not None:
        return redis.client()
    url = settings.redis_url.get_secret_value()
    client: Redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client


async def open_dev_runtime(
    stack: contextlib.AsyncExitStack, settings: Settings, redis: FakeRedis | None
) -> Services:
    """Services plus the health server in dev mode; both closed by ``stack``."""
    services = open_services(settings, utc_now)
    stack.push_async_callback(close_services, services)
    probe = _probe(settings, redis)
    stack.push_async_callback(probe.aclose)
    schedules = job_schedules(settings)
    health = HealthContext(
        services.engine, probe, services.metrics, schedules, utc_now, utc_now(), DEV_MODE
    )
    starting = start_health_server(health, settings.health_host, settings.health_port)
    runner = await listen("health server (set HEALTH_PORT)", settings.health_port, starting)
    stack.push_async_callback(runner.cleanup)
    return services


def _dev_cron(job: CronJob, shared_redis: bool) -> CronJob:
    """The same cron, run once at start too; renamed when its Redis may be shared."""
    name = f"{DEV_CRON_PREFIX}{job.name}" if shared_redis else job.name
    return dataclasses.replace(job, name=name, run_at_startup=True)


def dev_worker_settings(settings: Settings, redis: FakeRedis | None) -> type:
    """``notifier worker``'s arq settings, on fakeredis or on a queue of dev mode's own."""
    base = vars(build_worker_settings(settings))
    attributes = {key: value for key, value in base.items() if not key.startswith("__")}
    attributes["cron_jobs"] = [_dev_cron(job, redis is None) for job in attributes["cron_jobs"]]
    if redis is not None:
        attributes["redis_pool"] = redis.arq_pool()
    else:
        attributes["queue_name"] = DEV_QUEUE_NAME
    return type("WorkerSettings", (), attributes)
