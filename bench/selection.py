"""Selection: what one cron tick costs over a million users and a million appointments.

Two figures per job and load: the selection alone (``due_ids``: the indexed query and, for
the local-time kinds, the next-send instants of the rows it read) and the whole cron tick as
a worker runs it: its ``job_runs`` row (written once, finished, when nothing is due; else
opened, then closed), the selection, and for more than one batch the batch jobs enqueued
(the batches themselves are not run here). Ticks are timed in this process on a warm
connection pool, 100 runs each, at the benchmark's fixed instant.
"""

from __future__ import annotations

import random
import statistics
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from arq import ArqRedis, create_pool

from bench import appointments
from bench.common import timed, vacuum_analyze
from bench.lab import Lab, cron_job_id, utc_now
from bench.local_time_selection import KINDS, compute_all
from bench.population import Population, make_due
from notifier.app import Services, close_services, open_services
from notifier.jobs.fanout import fan_out_tick
from notifier.jobs.registry import batched_jobs
from notifier.jobs.runs import TickRow, run_recorded
from notifier.services import tz_reset
from notifier.services.counts import TickCounts
from notifier.timemath.tz_database import current_tz_database, use_tz_database
from notifier.timemath.tz_releases import Verdict
from notifier.timemath.windows import catch_up_window
from notifier.worker import redis_settings

JOBS = ("appointment_reminders", "daily_digest", "notes_reminders", "weekly_report")
# The local-time kinds, whose first ticks after loading compute every next-send instant.
LOCAL_TIME_JOBS = JOBS[1:]
RUNS = 100  # ms-level medians on a shared host: 30 runs moved by ±1 ms between runs
SCRATCH_QUEUE = "bench:scratch"  # batches enqueued here are never run


@dataclass(frozen=True)
class SelectionRow:
    """Median and worst milliseconds of the selection and of the whole tick."""

    job: str
    due: int
    found: int
    select_ms: float
    select_max_ms: float
    tick_ms: float
    tick_max_ms: float


async def run_selection(
    lab: Lab, pop: Population, at: datetime, due: int, rnd: random.Random
) -> list[SelectionRow]:
    """Every job with nobody due, then with ``due`` appointments and users due."""
    services = open_services(lab.settings, utc_now)
    pool = await create_pool(redis_settings(lab.redis_url), default_queue_name=SCRATCH_QUEUE)
    try:
        rows = [await _measure(services, pool, job, at, 0) for job in JOBS]
        await appointments.add_due(lab.dsn, due, at, "selection-due")
        await make_due(lab.dsn, pop, due, rnd, "digest_time")
        await make_due(lab.dsn, pop, due, rnd, "notes_reminder_time")
        await make_due(lab.dsn, pop, due, rnd, "weekly_report_time", day_column="weekly_report_day")
        rows += [await _measure(services, pool, job, at, due) for job in JOBS]
        await appointments.retire(lab.dsn, "selection-due")
    finally:
        await pool.flushdb()
        await pool.aclose()
        await close_services(services)
    return rows


async def compute_instants(lab: Lab, at: datetime) -> list[tuple[str, float, int]]:
    """Each local-time kind's first ticks after loading, as after deploying migration 0010:
    they read every user and compute their next-send instant (seconds and ticks per kind). Then
    VACUUM (ANALYZE), as the runbook asks, since every row was rewritten.

    With the workers' tz database (``TZ_DATABASE``, as the ``notifier`` command sets it at its
    start): this process read the host's zone files (2025b here, the bundled ``tzdata``
    2026f), recorded their release, and every worker of the later phases found a newer one and
    put every instant back: the first sending phase measured that reset's writes (PostgreSQL
    CPU an email 231 µs, a third of it the reset, in the run of 2026-12-05 17:16) and the
    memory phase began with a first pass over 770,000 rows.
    """
    use_tz_database(lab.settings.tz_database)
    services = open_services(lab.settings, utc_now)
    window = catch_up_window(at, timedelta(minutes=services.settings.catch_up_minutes))
    spent = []
    try:
        for job in LOCAL_TIME_JOBS:
            seconds, ticks = await compute_all(services, KINDS[job].kind, window)
            spent.append((job, seconds, ticks))
        await record_tz_release(services)
    finally:
        await close_services(services)
    await vacuum_analyze(lab.dsn)
    return spent


async def record_tz_release(services: Services) -> None:
    """Records this process's tz database as the one the instants were computed with (they
    just were), as a deployment running since migration 0011 has it: otherwise every worker
    the phases start would find no record and put every instant back (``services.tz_reset``),
    and the phases would measure that reset and the recomputing instead of their own work."""
    database = current_tz_database()
    _, verdict = await tz_reset.claim(services.engine, database)
    if verdict is Verdict.RESET:
        await tz_reset.finish(services.engine, database.version)


async def _measure(
    services: Services, pool: ArqRedis, job: str, at: datetime, due: int
) -> SelectionRow:
    halves = batched_jobs()[job]

    async def select() -> list[uuid.UUID]:
        return await halves.due_ids(services, at)

    await timed(select, 3)  # warm: prepared statements, zone offsets, pool connections
    spent, found = await timed(select, RUNS)
    ticks = [await _tick(services, pool, job, at + timedelta(milliseconds=i)) for i in range(RUNS)]
    return SelectionRow(
        job,
        due,
        len(found),
        statistics.median(spent),
        max(spent),
        statistics.median(ticks),
        max(ticks),
    )


async def _tick(services: Services, pool: ArqRedis, job: str, at: datetime) -> float:
    """One whole cron tick as the worker runs it; milliseconds."""

    async def runner(row: TickRow) -> TickCounts:
        return await fan_out_tick(services, pool, job, at, (row, at))

    spent, _ = await timed(
        lambda: run_recorded(
            services, job, at, run_id=cron_job_id(job, at), scheduled_for=at, runner=runner
        ),
        1,
    )
    return spent[0]
