"""Gathers the facts ``/health`` reports: Redis, the database, each job's last ticks.

Every query is index-bound, so ``/health`` stays cheap however large the tables grow: the
per-job ones walk ``ix_job_runs_job_name_started_at`` backwards from the newest row, and
the waiting-notification one reads only ``pending`` rows through the partial index
``ix_reminders_sent_pending_lease`` (pending rows are in flight or retrying, and cleanup
gives up the ones whose window passed, so they stay few).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.db.inline_constants import inline
from notifier.db.schema import job_runs, reminders_sent
from notifier.health.evaluate import JobFacts, LaneDepths
from notifier.jobs.lanes import LaneKeys, depth
from notifier.rules.kind_horizons import kind_horizons
from notifier.rules.kinds import JOB_KINDS
from notifier.timemath.cron import first_firing, parse_cron

PROBE_TIMEOUT_SECONDS = 3.0
QUEUE_KEY = "arq:queue"
# arq's cron job ids hold this; ``notifier run`` ticks (maybe replays of the past) do not.
CRON_RUN_MARK = "cron:"
ONE_MINUTE = timedelta(minutes=1)


def cron_interval(expression: str, now: datetime) -> timedelta:
    """The gap between the next two firings of a cron expression (the project's one cron
    evaluator, ``timemath.cron``, which ``check`` and ``upcoming`` use too)."""
    spec = parse_cron(expression)
    first = first_firing(spec, now + ONE_MINUTE)
    return first_firing(spec, first + ONE_MINUTE) - first


async def redis_depth(redis: Redis, queue: str = QUEUE_KEY) -> int | None:
    """Queue depth, or None when Redis does not answer in time."""
    try:
        return int(await asyncio.wait_for(redis.zcard(queue), PROBE_TIMEOUT_SECONDS))
    except Exception:  # any failure means Redis is down for us
        return None


async def lane_depths(redis: Redis, queue: str = QUEUE_KEY) -> LaneDepths | None:
    """Batches per priority lane of ``queue`` (``jobs.lanes``), waiting and leased: arq's
    queue holds only the lanes' few tokens, so the backlog shows here. None when Redis does
    not answer in time."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            return await depth(redis, LaneKeys.for_queue(queue))
    except Exception:  # any failure means Redis is down for us
        return None


async def database_ok(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means unreachable
        return False


async def _newest(conn: AsyncConnection, job: str, *where: Any) -> Any:
    """The job's newest ``job_runs`` row matching ``where`` (a mapping), or None."""
    stmt = (
        select(job_runs)
        .where(job_runs.c.job_name == job, *where)
        .order_by(job_runs.c.started_at.desc())
        .limit(1)
    )
    return (await conn.execute(stmt)).mappings().first()


async def oldest_unsent(conn: AsyncConnection) -> dict[str, datetime]:
    """Per kind, when its oldest ``pending`` slot fell due (its first claim, if the slot is
    not the due instant: see ``rules.kind_horizons``)."""
    horizons = kind_horizons(timedelta(0))
    found = {}
    for kind, slot, created in (await conn.execute(oldest_unsent_query())).all():
        horizon = horizons.get(kind)
        found[kind] = slot if horizon is not None and horizon.slot_is_due else created
    return found


def oldest_unsent_query() -> Select[Any]:
    """Per kind, the earliest slot and first claim among ``pending`` rows, found through
    their partial index (its predicate inline: ``db.inline_constants``)."""
    rs = reminders_sent.c
    return (
        select(rs.kind, func.min(rs.slot), func.min(rs.created_at))
        .where(rs.status == inline("pending"))
        .group_by(rs.kind)
    )


async def _job_facts(
    conn: AsyncConnection, job: str, expression: str, now: datetime, waiting: dict[str, datetime]
) -> JobFacts:
    last = await _newest(conn, job)
    ok = await _newest(conn, job, job_runs.c.status == "succeeded")
    cron = await _newest(conn, job, job_runs.c.run_id.contains(CRON_RUN_MARK))
    kind = JOB_KINDS.get(job)
    return JobFacts(
        name=job,
        interval=cron_interval(expression, now),
        last_started=last["started_at"] if last else None,
        last_finished=last["finished_at"] if last else None,
        last_status=last["status"] if last else None,
        last_success=ok["finished_at"] if ok else None,
        last_lag=cron["started_at"] - cron["scheduled_for"] if cron else None,
        oldest_unsent=waiting.get(kind) if kind else None,
    )


async def job_facts(
    engine: AsyncEngine, schedules: dict[str, str], now: datetime
) -> list[JobFacts]:
    """The last tick, last success, lag and oldest waiting notification of each enabled job."""
    async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), engine.connect() as conn:
        waiting = await oldest_unsent(conn)
        return [
            await _job_facts(conn, job, expression, now, waiting)
            for job, expression in schedules.items()
        ]
