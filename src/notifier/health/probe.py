"""Gathers the facts ``/health`` reports: Redis, the database, each job's last ticks."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from arq.cron import next_cron
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.db.schema import job_runs
from notifier.health.evaluate import JobFacts
from notifier.timemath.cron import parse_cron

PROBE_TIMEOUT_SECONDS = 3.0
QUEUE_KEY = "arq:queue"


def cron_interval(expression: str, now: datetime) -> timedelta:
    """The gap between the next two firings of a cron expression."""
    spec = parse_cron(expression).arq_options()
    options = {k: v for k, v in spec.items() if v is not None}
    first = next_cron(now, **options)  # type: ignore[arg-type]
    return next_cron(first, **options) - first  # type: ignore[arg-type]


async def redis_depth(redis: Redis) -> int | None:
    """Queue depth, or None when Redis does not answer in time."""
    try:
        return int(await asyncio.wait_for(redis.zcard(QUEUE_KEY), PROBE_TIMEOUT_SECONDS))
    except Exception:  # any failure means Redis is down for us
        return None


async def database_ok(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means unreachable
        return False


async def job_facts(
    engine: AsyncEngine, schedules: dict[str, str], now: datetime
) -> list[JobFacts]:
    """The last tick and the last success of each enabled job (index: job_name, started_at)."""
    facts = []
    async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), engine.connect() as conn:
        for job, expression in schedules.items():
            base = select(job_runs).where(job_runs.c.job_name == job)
            last = (
                (await conn.execute(base.order_by(job_runs.c.started_at.desc()).limit(1)))
                .mappings()
                .first()
            )
            ok = (
                (
                    await conn.execute(
                        base.where(job_runs.c.status == "succeeded")
                        .order_by(job_runs.c.started_at.desc())
                        .limit(1)
                    )
                )
                .mappings()
                .first()
            )
            facts.append(
                JobFacts(
                    name=job,
                    interval=cron_interval(expression, now),
                    last_started=last["started_at"] if last else None,
                    last_finished=last["finished_at"] if last else None,
                    last_status=last["status"] if last else None,
                    last_success=ok["finished_at"] if ok else None,
                )
            )
    return facts
