"""The arq job functions: take the context and the clock, call the service layer, return counts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from notifier.app import Services
from notifier.jobs.context import JobContext
from notifier.jobs.fanout import fan_out_tick
from notifier.jobs.registry import batched_jobs
from notifier.jobs.runs import TickRow, TickRunner, run_recorded
from notifier.services.counts import TickCounts

JobFunction = Callable[[JobContext], Awaitable[dict[str, int]]]


def scheduled_instant(job_id: object) -> datetime | None:
    """The tick's instant from arq's cron job id ``cron:<name>:<unix ms>``."""
    if not isinstance(job_id, str):
        return None
    tail = job_id.rsplit(":", 1)[-1]
    return datetime.fromtimestamp(int(tail) / 1000, UTC) if tail.isdigit() else None


def job_function(job: str) -> JobFunction:
    """A named coroutine for arq that runs one recorded tick of ``job`` at the current time.

    In a worker (arq puts its Redis pool in the context) a sending job's tick fans out: it
    enqueues its batches for every worker to share (``jobs.fanout``).
    """

    async def tick(ctx: JobContext) -> dict[str, int]:
        services: Services = ctx["services"]
        now = services.clock()
        counts = await run_recorded(
            services,
            job,
            now,
            run_id=str(ctx.get("job_id")),
            scheduled_for=scheduled_instant(ctx.get("job_id")),
            runner=_fan_out_runner(ctx, job, now),
        )
        return counts.as_dict()

    tick.__name__ = tick.__qualname__ = job
    return tick


def _fan_out_runner(ctx: JobContext, job: str, now: datetime) -> TickRunner | None:
    """The fan-out tick when arq's Redis is at hand and the job has batches; else inline."""
    redis = ctx.get("redis")
    if redis is None or job not in batched_jobs():
        return None

    scheduled = scheduled_instant(ctx.get("job_id")) or now

    async def runner(row: TickRow) -> TickCounts:
        return await fan_out_tick(ctx["services"], redis, job, now, (row, scheduled))

    return runner
