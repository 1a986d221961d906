"""How long one tick of each task job takes over 1,000,000 tasks with few of them due.

Run from the repository root (needs the PostgreSQL 15 binaries, as the test suite does)::

    .venv/bin/python -m bench.task_ticks [--tasks 1000000] [--at 2026-06-15T12:00:00Z]

It starts a throwaway PostgreSQL and Redis (``tests.support.servers.local_servers``),
migrates it to head, and builds the host tables server-side with ``generate_series``: 20,000
users in 1,000 workspaces over a dozen zones, and a realistic mix of tasks (60% completed in
the past year, some of them recurring and processed; 20% open and due weeks to months ahead;
8% open without due date; 8% open, long past due and already ``overdue``; 4% deleted), 300,000
``task_reminders`` (mostly sent, some ahead, 5% left unsent in the past as skipped rows
accumulate) and 600,000 ``reminders_sent`` rows. Then it adds the few rows that are due at
``--at``: tasks due within 24 hours, tasks just past due, reminder rows just due, and completed
recurring tasks not yet processed.

For each job it prints the candidate query's plan (EXPLAIN ANALYZE, to show the index used),
the candidate query's time, one full tick with the due rows (sends go to an in-process SMTP
capture server) and the median of three ticks right after, when nothing is due any more.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import Select, text
from sqlalchemy.dialects import postgresql
from tests.support.servers import free_port, local_servers
from tests.support.smtp import CaptureServer

from bench.common import create_database
from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.migrate import upgrade_to_head
from notifier.logs import configure_logging
from notifier.services import overdue_scanner, recurring_tasks, task_due_reminders, task_reminders
from notifier.services.counts import TickCounts

ZONES = (
    "UTC",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Africa/Lagos",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
DUE = {"task_due": 200, "overdue": 100, "reminders": 100, "recurring": 50}


@dataclass(frozen=True)
class Job:
    name: str
    candidates: Callable[[datetime], Select[Any]]
    tick: Callable[[Services, datetime], Awaitable[TickCounts]]
    index: str


JOBS = (
    Job(
        "task_due_reminders",
        task_due_reminders.candidates,
        task_due_reminders.run_tick,
        "ix_tasks_open_due_date",
    ),
    Job(
        "task_reminders",
        task_reminders.candidates,
        task_reminders.run_tick,
        "ix_task_reminders_unsent_remind_at",
    ),
    Job(
        "overdue_scanner",
        overdue_scanner.candidates,
        overdue_scanner.run_tick,
        "ix_tasks_open_not_overdue_due_date",
    ),
    Job(
        "recurring_tasks",
        lambda _now: recurring_tasks.candidates(),
        recurring_tasks.run_tick,
        "ix_tasks_recurring_unprocessed",
    ),
)


def host_rows_sql(tasks: int) -> list[str]:
    """Workspaces, users, settings and the bulk of the tasks; ``:now`` is the tick's instant."""
    zones = "ARRAY[" + ",".join(f"'{z}'" for z in ZONES) + "]"
    return [
        "SELECT setseed(0.42)",
        f"""INSERT INTO workspaces (id, name, timezone)
            SELECT gen_random_uuid(), 'Practice ' || g, ({zones})[1 + g % {len(ZONES)}]
            FROM generate_series(1, 1000) g""",
        """CREATE TEMP TABLE ws AS
            SELECT id, timezone, row_number() OVER (ORDER BY id) AS rn FROM workspaces""",
        """INSERT INTO users (id, workspace_id, email, full_name, timezone, is_active)
            SELECT gen_random_uuid(), ws.id, 'user' || g || '@example.com', 'User ' || g,
                   CASE WHEN g % 3 = 0 THEN ws.timezone END, g % 50 <> 0
            FROM generate_series(1, 20000) g JOIN ws ON ws.rn = 1 + g % 1000""",
        """INSERT INTO notification_settings (user_id, task_reminders_enabled)
            SELECT id, random() > 0.1 FROM users WHERE random() < 0.5""",
        """CREATE TEMP TABLE u AS
            SELECT id, workspace_id, row_number() OVER (ORDER BY id) AS rn FROM users""",
        f"""INSERT INTO tasks (id, workspace_id, user_id, title, description, priority, tags,
                due_date, completed, completed_at, status, is_recurring, recurrence_type,
                last_processed_at, deleted_at)
            SELECT gen_random_uuid(), u.workspace_id, u.id, 'Task ' || g, 'Details of ' || g,
                   (ARRAY['low','normal','high'])[1 + g % 3], '["work"]'::json,
                   CASE WHEN b < 60 THEN :now - random() * interval '365 days'
                        WHEN b < 80 THEN :now + interval '2 days' + random() * interval '363 days'
                        WHEN b < 88 THEN NULL
                        WHEN b < 96 THEN :now - interval '1 hour' - random() * interval '365 days'
                        ELSE :now + (random() - 0.5) * interval '60 days' END,
                   b < 60, CASE WHEN b < 60 THEN :now - random() * interval '365 days' END,
                   CASE WHEN b < 60 THEN 'completed' WHEN b BETWEEN 88 AND 95 THEN 'overdue'
                        ELSE 'open' END,
                   b < 60 AND g % 10 = 0,
                   CASE WHEN b < 60 AND g % 10 = 0 THEN 'weekly' END,
                   CASE WHEN b < 60 AND g % 10 = 0 THEN :now - interval '1 day' END,
                   CASE WHEN b >= 96 THEN :now - random() * interval '30 days' END
            FROM (SELECT g, (g * 37) % 100 AS b FROM generate_series(1, {tasks}) g) s
            JOIN u ON u.rn = 1 + g % 20000""",
    ]


def reminder_rows_sql() -> list[str]:
    """``task_reminders`` for some tasks, and a ledger as big as months of sending leave."""
    return [
        """CREATE TEMP TABLE tt AS SELECT id, user_id, row_number() OVER () AS rn
            FROM (SELECT id, user_id FROM tasks LIMIT 300000) t""",
        """INSERT INTO task_reminders (id, task_id, user_id, remind_at, sent, sent_at)
            SELECT gen_random_uuid(), tt.id, tt.user_id,
                   CASE WHEN rn % 20 < 17 THEN :now - random() * interval '365 days'
                        WHEN rn % 20 < 19 THEN :now + random() * interval '90 days'
                        ELSE :now - interval '1 hour' - random() * interval '365 days' END,
                   rn % 20 < 17, CASE WHEN rn % 20 < 17 THEN :now - interval '400 days' END
            FROM tt""",
        """INSERT INTO reminders_sent (id, kind, entity_id, user_id, slot, status, attempts,
                created_at)
            SELECT gen_random_uuid(), 'task_reminder', r.id, r.user_id, r.remind_at,
                   'skipped', 0, r.remind_at
            FROM task_reminders r
            WHERE NOT r.sent AND r.remind_at < :now AND r.remind_at > :now - interval '9 days'""",
        """INSERT INTO reminders_sent (id, kind, entity_id, user_id, slot, status, attempts,
                created_at)
            SELECT gen_random_uuid(), 'task_overdue', id, user_id, due_date, 'sent', 1, due_date
            FROM tasks WHERE status = 'overdue'""",
        """INSERT INTO reminders_sent (id, kind, entity_id, user_id, slot, status, attempts,
                created_at)
            SELECT gen_random_uuid(), 'appointment_reminder', gen_random_uuid(),
                   gen_random_uuid(), :now - random() * interval '30 days', 'sent', 1, :now
            FROM generate_series(1, 500000)""",
    ]


def due_rows_sql() -> list[str]:
    """The few rows due at ``:now``: what each tick has to find among everything else."""
    open_task = """INSERT INTO tasks (id, workspace_id, user_id, title, due_date, status)
        SELECT gen_random_uuid(), u.workspace_id, u.id, 'Due ' || g, {due}, 'open'
        FROM generate_series(1, {count}) g JOIN u ON u.rn = 1 + (g * 7919) % 20000"""
    return [
        open_task.format(due=":now + random() * interval '24 hours'", count=DUE["task_due"]),
        open_task.format(due=":now - random() * interval '14 minutes'", count=DUE["overdue"]),
        f"""INSERT INTO task_reminders (id, task_id, user_id, remind_at)
            SELECT gen_random_uuid(), t.id, t.user_id, :now - random() * interval '50 seconds'
            FROM tasks t WHERE NOT t.completed AND t.deleted_at IS NULL
              AND t.due_date > :now + interval '2 days'
            LIMIT {DUE["reminders"]}""",
        f"""INSERT INTO tasks (id, workspace_id, user_id, title, due_date, completed,
                completed_at, status, is_recurring, recurrence_type)
            SELECT gen_random_uuid(), u.workspace_id, u.id, 'Daily ' || g,
                   :now - interval '1 day', true, :now - interval '3 minutes', 'completed',
                   true, 'daily'
            FROM generate_series(1, {DUE["recurring"]}) g JOIN u ON u.rn = 1 + g * 11""",
    ]


async def build(url: str, tasks: int, now: datetime) -> None:
    """Loads the whole data set in one session (temp tables), then VACUUM ANALYZE."""
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        for sql in [*host_rows_sql(tasks), *reminder_rows_sql(), *due_rows_sql()]:
            started = time.perf_counter()
            args = (now,) if ":now" in sql else ()
            status = await conn.execute(sql.replace(":now", "$1::timestamptz"), *args)
            print(f"  {status:<24} {time.perf_counter() - started:6.1f} s", flush=True)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def literal_sql(stmt: Select[Any]) -> str:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


async def explain(services: Services, stmt: Select[Any]) -> str:
    async with services.engine.connect() as conn:
        rows = await conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + literal_sql(stmt)))
        return "\n".join(f"    {line}" for (line,) in rows)


async def query_ms(services: Services, stmt: Select[Any], runs: int = 5) -> tuple[float, int]:
    """Median milliseconds of the candidate query, and the number of ids it returns."""
    times, found = [], 0
    for _ in range(runs):
        async with services.engine.connect() as conn:
            started = time.perf_counter()
            found = len((await conn.execute(stmt)).all())
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), found


async def tick_ms(services: Services, job: Job, now: datetime) -> tuple[float, TickCounts]:
    started = time.perf_counter()
    counts = await job.tick(services, now)
    return (time.perf_counter() - started) * 1000, counts


async def measure(services: Services, job: Job, now: datetime) -> dict[str, Any]:
    """Plan, query time, a tick with the due rows, then ticks with nothing due."""
    stmt = job.candidates(now)
    plan = await explain(services, stmt)
    query, found = await query_ms(services, stmt)
    due_ms, due_counts = await tick_ms(services, job, now)
    idle = [await tick_ms(services, job, now) for _ in range(3)]
    return {
        "job": job.name,
        "plan": plan,
        "uses_index": job.index in plan,
        "query_ms": query,
        "candidates": found,
        "due_tick_ms": due_ms,
        "due_counts": due_counts.as_dict(),
        "idle_tick_ms": statistics.median(ms for ms, _ in idle),
        "idle_selected": idle[-1][1].selected,
    }


def report(results: list[dict[str, Any]], tasks: int, rows: dict[str, int]) -> None:
    print(f"\n{tasks:,} tasks; table sizes: {rows}\n")
    for r in results:
        print(f"{r['job']} (index {'used' if r['uses_index'] else 'NOT used'}):\n{r['plan']}\n")
    print("| job | candidate query | candidates | tick with due rows | sent | idle tick |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['job']} | {r['query_ms']:.2f} ms | {r['candidates']} | "
            f"{r['due_tick_ms']:.0f} ms | {r['due_counts']['sent']} | "
            f"{r['idle_tick_ms']:.2f} ms (selected {r['idle_selected']}) |"
        )


async def table_sizes(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        names = ("tasks", "task_reminders", "reminders_sent", "users")
        return {n: int(await conn.fetchval(f"SELECT count(*) FROM {n}")) for n in names}
    finally:
        await conn.close()


async def run(url: str, tasks: int, now: datetime) -> None:
    print(f"building {tasks:,} tasks at {now.isoformat()} …", flush=True)
    await build(url, tasks, now)
    smtp = CaptureServer(free_port())
    smtp.start()
    settings = Settings(
        database_url=url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        mail_from="notifier@bench.test",
        log_level="WARNING",
    )
    services = open_services(settings, lambda: datetime.now(UTC))
    try:
        results = [await measure(services, job, now) for job in JOBS]
    finally:
        await close_services(services)
        smtp.stop()
    report(results, tasks, await table_sizes(url))
    print(f"\nemails captured: {len(smtp.messages)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument(
        "--at",
        type=lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")),
        default=datetime(2026, 6, 15, 12, 0, tzinfo=UTC),
    )
    args = parser.parse_args()
    configure_logging("WARNING")
    with local_servers() as (pg, _redis):
        url = asyncio.run(create_database(pg.url, "bench"))
        upgrade_to_head(url)
        asyncio.run(run(url, args.tasks, args.at))


if __name__ == "__main__":
    main()
