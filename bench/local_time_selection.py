"""How long a ``daily_digest`` or ``weekly_report`` tick takes among 1,000,000 users.

Run from the repository root (needs PostgreSQL 15 binaries, as the test suite does)::

    .venv/bin/python -m bench.local_time_selection [--users 1000000] [--zones 400] [--due 1000]
        [--kind daily_digest|weekly_report|both]

It starts a throwaway PostgreSQL (``tests.support.servers``), migrates it, loads users
through the host tables with ``COPY`` (so the migration's triggers build
``local_time_schedules`` as they would in production), then times, for a tick at
``--at``: the first selection (every row's next-send instant computed, as after migration
0010), then the selection as a tick makes it (``local_time.due_ids``: the read of rows whose
instant has come, migration 0010, and the held slots' read, on an autocommit connection) and the
whole ``run_tick`` with nobody due, and again after ``--due`` users are moved into the
window (sends go to an in-process SMTP capture server). Every user has the digest on; each
time is drawn per zone among the minutes that are *not* due in the window, so "nobody due"
is exact, and the ledger already holds an earlier digest of every user (a million rows), as
it would in production. After the first selection it times one more selection, which walks
the dead index entries the first one left, then runs ``VACUUM`` as autovacuum would.

``--kind weekly_report`` measures the weekly report the same way (every user has it on, a
weekday drawn from 1..7, a time drawn among the minutes not due; the ``--due`` users are moved
onto a weekday and time due in the window, and the ledger holds each user's previous report);
``--kind both`` loads both and measures the two kinds side by side in one run (each kind's
``--due`` users are drawn separately). The default, ``daily_digest``, loads and prints what
it always did; the other modes prefix each line with the kind.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import func, select, text
from tests.support.servers import free_port, start_postgres
from tests.support.smtp import CaptureServer

from bench.common import create_database, summary, timed
from bench.population import load, make_due, populate
from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.migrate import upgrade_to_head
from notifier.db.schema import local_time_schedules
from notifier.logs import configure_logging
from notifier.rules.local_time_slots import NOT_COMPUTED, slot_instant
from notifier.services import daily_digest, local_time, notes_reminders, weekly_report
from notifier.services.counts import TickCounts
from notifier.timemath.windows import Window, catch_up_window


@dataclass(frozen=True)
class Measured:
    """One kind this run measures: its selection, its tick, the columns ``--due`` moves."""

    kind: local_time.LocalTimeKind
    run_tick: Callable[[Services, datetime], Awaitable[TickCounts]]
    time_column: str
    day_column: str | None = None


KINDS = {
    "daily_digest": Measured(daily_digest.DIGEST, daily_digest.run_tick, "digest_time"),
    "notes_reminders": Measured(
        notes_reminders.NOTES, notes_reminders.run_tick, "notes_reminder_time"
    ),
    "weekly_report": Measured(
        weekly_report.WEEKLY, weekly_report.run_tick, "weekly_report_time", "weekly_report_day"
    ),
}
CHOICES = {
    "daily_digest": ["daily_digest"],
    "weekly_report": ["weekly_report"],
    "both": ["daily_digest", "weekly_report"],
}


async def compute_all(
    services: Services, kind: local_time.LocalTimeKind, window: Window
) -> tuple[float, int]:
    """Selections at ``window`` until they leave no row of ``kind`` "not computed", or one
    leaves as many as before (rows due in the window stay so until sent): seconds and ticks
    (a tick reads at most ``next_send.BUDGET`` rows, so a big first pass takes several)."""
    copy, started, ticks = kind.copy, time.perf_counter(), 0
    left = select(func.count()).where(copy.next == NOT_COMPUTED, *copy.due_filter())
    before = None
    while True:
        async with services.engine.connect() as conn:
            await local_time.candidate_ids(conn, kind, window)
            await conn.commit()
            ticks += 1
            now_left = (await conn.execute(left)).scalar_one()
        if now_left in (0, before):
            return time.perf_counter() - started, ticks
        before = now_left


async def first_tick(services: Services, now: datetime, what: Measured, label: str) -> None:
    """The first selections after loading: every row is "not computed" (as after migration
    0010, or after a host rewrites every schedule), so they read, compute and move them all.

    Each row moved leaves a dead index entry in the range of every later read until VACUUM;
    the next read walks them (``db.index_order``): its time is printed, before the ``VACUUM``
    that autovacuum makes within a minute or two of so many changed rows."""
    window = catch_up_window(now, timedelta(minutes=services.settings.catch_up_minutes))
    spent, ticks = await compute_all(services, what.kind, window)
    print(f"[{label}] every instant computed: {spent:.1f} s in {ticks} tick(s)")
    started = time.perf_counter()
    async with services.engine.connect() as conn:
        await local_time.candidate_ids(conn, what.kind, window)
    walked = (time.perf_counter() - started) * 1000
    print(f"[{label}] next selection, walking the dead entries before VACUUM: {walked:.1f} ms")
    async with services.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM (ANALYZE) local_time_schedules"))


async def measure(
    services: Services, dsn: str, now: datetime, label: str, what: Measured = KINDS["daily_digest"]
) -> None:
    async def select_ids() -> list[uuid.UUID]:
        return await local_time.due_ids(services, now, what.kind)  # as a tick selects

    await timed(select_ids, 3)  # warm caches, prepared statements; computes changed rows
    spent, ids = await timed(select_ids, 30)
    print(summary(f"[{label}] selection ({len(ids)} users selected)", spent))
    ticks, counts = [], None
    for _ in range(5):
        start = time.perf_counter()
        counts = await what.run_tick(services, now)
        ticks.append((time.perf_counter() - start) * 1000)
        reset = await asyncpg.connect(dsn)  # so the next run sends again (not timed)
        since = slot_instant(now.date() - timedelta(days=1))  # the history is older (``load``)
        await reset.execute("DELETE FROM reminders_sent WHERE slot >= $1", since)
        await reset.close()
    assert counts is not None
    print(summary(f"[{label}] whole run_tick incl. sends ({counts.as_dict()})", ticks))


async def explain(
    services: Services, now: datetime, kind: local_time.LocalTimeKind, label: str = ""
) -> None:
    """The plan PostgreSQL chose for the read of rows whose instant has come: the index."""
    copy = kind.copy
    async with services.engine.connect() as conn:
        stmt = select(local_time_schedules.c.user_id).where(copy.next <= now, *copy.due_filter())
        sql = str(stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
        plan = await conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql))
        lines = list(plan.scalars())
    print(f"{label}EXPLAIN ANALYZE of the read of rows whose instant has come:")
    for line in lines:
        print("   ", line)


async def bench(args: argparse.Namespace, pg_url: str, smtp_port: int) -> None:
    rnd = random.Random(args.seed)
    now = datetime.fromisoformat(args.at).astimezone(UTC)
    window = catch_up_window(now, timedelta(minutes=60))
    url = await create_database(pg_url, "bench")
    dsn = url.replace("+asyncpg", "")
    await asyncio.to_thread(upgrade_to_head, url)
    started = time.perf_counter()
    names = CHOICES[args.kind]
    pop = populate(args.users, args.zones, window, rnd)
    print(f"generated {len(pop.users)} users in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    # The weekly report's draws come from a generator of their own, so the digest's stay
    # those of a digest-only run with the same seed.
    weekly = random.Random(args.seed + 1) if "weekly_report" in names else None
    await load(dsn, pop, rnd, now, weekly)
    print(f"loaded through the triggers in {time.perf_counter() - started:.0f} s")
    settings = Settings(
        database_url=url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        mail_from="notifier@bench.test",
        smtp_pool_size=16,
        batch_size=500,
    )
    services = open_services(settings, lambda: datetime.now(UTC))

    def tagged(name: str, label: str) -> str:
        return label if args.kind == "daily_digest" else f"{name}, {label}"

    try:
        for name in names:
            await first_tick(services, now, KINDS[name], tagged(name, "after loading"))
        for name in names:
            await measure(services, dsn, now, tagged(name, "nobody due"), KINDS[name])
            tag = "" if args.kind == "daily_digest" else f"[{name}] "
            await explain(services, now, KINDS[name].kind, tag)
        for name in names:
            what = KINDS[name]
            await make_due(dsn, pop, args.due, rnd, what.time_column, day_column=what.day_column)
        for name in names:
            await measure(services, dsn, now, tagged(name, f"{args.due} due"), KINDS[name])
            tag = "" if args.kind == "daily_digest" else f"[{name}] "
            await explain(services, now, KINDS[name].kind, tag)
    finally:
        await close_services(services)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--zones", type=int, default=400)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--at", default="2026-03-10T14:00:00+00:00")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--kind",
        choices=sorted(CHOICES),
        default="daily_digest",
        help="the kind measured; both: the digest and the weekly report in one run",
    )
    args = parser.parse_args()
    configure_logging("WARNING")
    base = Path(tempfile.mkdtemp(prefix="notifier-bench-"))
    base.chmod(0o755)
    pg = start_postgres(base / "pg")
    smtp = CaptureServer(free_port())
    smtp.start()
    try:
        asyncio.run(bench(args, pg.url, smtp.port))
        print(f"emails captured: {len(smtp.messages)}")
    finally:
        smtp.stop()
        pg.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
