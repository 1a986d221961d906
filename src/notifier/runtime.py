"""Everything a worker process holds for its whole life: services, health server, probes.

Built once per process, outside arq's own Redis pool, so the health endpoint keeps answering
(503) while Redis is down and survives arq being restarted inside the process.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from redis.asyncio import Redis

from notifier.app import Clock, Services, close_services, open_services
from notifier.config import Settings
from notifier.health.server import HealthContext, start_health_server


@dataclass
class Runtime:
    """The process-wide objects; ``close_runtime`` releases them."""

    services: Services
    health_runner: web.AppRunner
    probe_redis: Redis


async def open_runtime(
    settings: Settings, clock: Clock, schedules: dict[str, str], mode: str = "production"
) -> Runtime:
    services = open_services(settings, clock)
    probe = Redis.from_url(
        settings.redis_url.get_secret_value(), socket_timeout=2, socket_connect_timeout=2
    )
    health = HealthContext(
        services.engine, probe, services.metrics, schedules, clock, clock(), mode
    )
    runner = await start_health_server(health, settings.health_host, settings.health_port)
    return Runtime(services, runner, probe)


async def close_runtime(runtime: Runtime) -> None:
    await runtime.health_runner.cleanup()
    await runtime.probe_redis.aclose()
    await close_services(runtime.services)
