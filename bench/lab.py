"""What every phase of one benchmark run shares: servers, database, settings, a scratch folder."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from arq import ArqRedis, create_pool

from bench.common import plain_dsn
from notifier.config import Settings
from notifier.worker import redis_settings


@dataclass
class Lab:
    """The benchmark's environment; ``pids`` names the server processes whose CPU is read."""

    url: str
    redis_url: str
    folder: Path
    settings: Settings
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def dsn(self) -> str:
        return plain_dsn(self.url)

    async def arq(self) -> ArqRedis:
        """An arq pool on the workers' queue, to enqueue ticks as arq's cron would."""
        return await create_pool(redis_settings(self.redis_url))


def health_key(pid: int) -> str:
    """The arq health key a ``notifier worker`` process writes at its first poll."""
    return f"arq:health:{socket.gethostname()}:{pid}"


async def until(
    check: Callable[[], Awaitable[bool]], seconds: float, what: str, every: float = 0.2
) -> None:
    """Polls ``check`` every ``every`` seconds until it holds; raises at the deadline."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: timed out waiting for {what}")
        await asyncio.sleep(every)


async def workers_ready(lab: Lab, pids: list[int]) -> None:
    """Waits until every worker has polled its queue once (its arq health key exists)."""
    pool = await lab.arq()
    try:

        async def polled() -> bool:
            return bool(await pool.exists(*(health_key(pid) for pid in pids)) == len(pids))

        await until(polled, 60, "the workers to start")
    finally:
        await pool.aclose()


def utc_now() -> datetime:
    return datetime.now(UTC)


def cron_job_id(job: str, at: datetime) -> str:
    """The id arq's cron gives the tick of ``job`` at ``at``."""
    return f"cron:{job}:{int(at.timestamp() * 1000)}"
