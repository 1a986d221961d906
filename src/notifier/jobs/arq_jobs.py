"""The arq job functions: take the context and the clock, call the service layer, return counts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from notifier.app import Services
from notifier.jobs.runs import run_recorded

JobFunction = Callable[[dict[str, Any]], Awaitable[dict[str, int]]]


def scheduled_instant(job_id: object) -> datetime | None:
    """The tick's instant from arq's cron job id ``cron:<name>:<unix ms>``."""
    if not isinstance(job_id, str):
        return None
    tail = job_id.rsplit(":", 1)[-1]
    return datetime.fromtimestamp(int(tail) / 1000, UTC) if tail.isdigit() else None


def job_function(job: str) -> JobFunction:
    """A named coroutine for arq that runs one recorded tick of ``job`` at the current time."""

    async def tick(ctx: dict[str, Any]) -> dict[str, int]:
        services: Services = ctx["services"]
        now = services.clock()
        counts = await run_recorded(
            services,
            job,
            now,
            run_id=str(ctx.get("job_id")),
            scheduled_for=scheduled_instant(ctx.get("job_id")),
        )
        return counts.as_dict()

    tick.__name__ = tick.__qualname__ = job
    return tick
