"""The local-time selections over 10,000,000 users (issue 19: ≤ 10 ms idle, ≤ 30 ms with 1,000 due).

Run from the repository root (needs PostgreSQL 15 binaries, as the test suite does)::

    .venv/bin/python -m bench.scale_selection [--users 10000000] [--keep /var/lib/notifier-scale]

The data set is built once, in SQL (``generate_series``; a Python-generated load through the
triggers takes ~200 s a million users), and kept in ``--keep`` between runs: a later run with
the same ``--users``, ``--zones``, ``--seed`` and ``--at`` (and the same next-send reach, which
the population's times avoid) starts the kept cluster and measures at once. Every user has the
digest, the notes reminder and the weekly report on, at minutes drawn per zone among those
*not* due in the window at ``--at`` (so "nobody due" is exact), 70% in their workspace's zone;
the ledger holds every user's digest of two days before. Host rows are written with triggers
off and the copy filled from the host's relations in one statement, as
``notifier host-triggers``' refresh does.

Per kind it prints: the first selection after building (every next-send instant computed, as
after deploying migration 0010), the selection and the whole ``run_tick`` with nobody due, and
again after ``--due`` users are moved into the window (through the triggers, as a host's update
would). The moved users are put back afterwards, so the kept set stays idle at ``--at``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from tests.support.servers import free_port, start_postgres
from tests.support.smtp import CaptureServer

from bench.common import summary, timed
from bench.local_time_selection import KINDS, Measured, compute_all
from bench.population import pick_zones, split_minutes
from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.migrate import upgrade_to_head
from notifier.logs import configure_logging
from notifier.rules.local_time_slots import slot_instant
from notifier.services import local_time
from notifier.services.host_follow import COPY_COLUMNS, host_source_sql
from notifier.services.next_send import REACH
from notifier.timemath.windows import Window, catch_up_window

DATABASE = "scale"
POSTGRES_SETTINGS = {"shared_buffers": "2GB", "max_wal_size": "8GB"}


def marker(args: argparse.Namespace) -> str:
    """What the kept set was built from; the reach is in it because the population's times
    avoid the minutes in reach before the window (``bench.population.split_minutes``)."""
    reach = int(REACH.total_seconds() // 60)
    return f"users={args.users} zones={args.zones} seed={args.seed} at={args.at} reach={reach}"


async def kept(dsn: str, args: argparse.Namespace) -> bool:
    """Whether the kept cluster holds this very data set."""
    conn = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            return False
    finally:
        await conn.close()
    conn = await asyncpg.connect(dsn)
    try:
        found = await conn.fetchval("SELECT to_regclass('bench_scale') IS NOT NULL")
        return bool(found) and await conn.fetchval("SELECT spec FROM bench_scale") == marker(args)
    finally:
        await conn.close()


async def build(dsn: str, url: str, args: argparse.Namespace, window: Window) -> None:
    """A fresh database, migrated, filled in SQL; about 15 minutes at ten million users."""
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        await admin.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await admin.close()
    await asyncio.to_thread(upgrade_to_head, url)
    conn = await asyncpg.connect(dsn)
    try:
        await _zones(conn, args, window)
        for step, sql in BUILD:
            started = time.perf_counter()
            await conn.execute(sql.format(users=args.users, spaces=max(1, args.users // 50)))
            print(f"  {step}: {time.perf_counter() - started:.0f} s", flush=True)
        await conn.execute(
            "INSERT INTO reminders_sent (id, kind, entity_id, user_id, slot, status, attempts,"
            " created_at) SELECT gen_random_uuid(), 'daily_digest', id, id, $1, 'sent', 1,"
            " now() FROM users",
            slot_instant(window.end.date() - timedelta(days=2)),
        )
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CREATE TABLE bench_scale (spec text)")
        await conn.execute("INSERT INTO bench_scale VALUES ($1)", marker(args))
    finally:
        await conn.close()


async def _zones(conn: asyncpg.Connection, args: argparse.Namespace, window: Window) -> None:
    """The zones (Zipf-like weights) and, per zone, its minutes not due and due at ``--at``."""
    rnd = random.Random(args.seed)
    names = pick_zones(args.zones, rnd)
    await conn.execute(
        "CREATE TABLE bench_zones (no int PRIMARY KEY, name text, allowed int, cum float8);"
        "CREATE INDEX ON bench_zones (cum);"
        "CREATE TABLE bench_minutes (no int, due bool, n int, t time, isodow int,"
        " PRIMARY KEY (no, due, n))"
    )
    total = sum(1 / (rank + 1) for rank in range(len(names)))
    cum = 0.0
    for no, name in enumerate(names):
        cum = min(1.0, cum + 1 / (no + 1) / total)
        allowed, due, isodows = split_minutes(name, window)
        await conn.execute(
            "INSERT INTO bench_zones VALUES ($1, $2, $3, $4)", no, name, len(allowed), cum
        )
        rows = [(no, False, n, t, 0) for n, t in enumerate(allowed)]
        rows += [(no, True, n, t, d) for n, (t, d) in enumerate(zip(due, isodows, strict=True))]
        await conn.copy_records_to_table("bench_minutes", records=rows)


# Host rows with triggers off, then the copy from the host's relations in one statement.
# Random draws sit in a LATERAL subquery that names the outer row, so PostgreSQL draws them
# per row (a volatile call in a filter would be drawn again for every row it scans).
_ZONE = "(SELECT name FROM bench_zones WHERE cum >= {r} ORDER BY cum LIMIT 1)"
_MINUTES = (
    " JOIN bench_zones z ON z.name = coalesce(u.timezone, w.timezone)"
    " CROSS JOIN LATERAL (SELECT floor(random() * z.allowed)::int + 0 * z.no AS a,"
    " floor(random() * z.allowed)::int AS b, floor(random() * z.allowed)::int AS c) AS r"
    " JOIN bench_minutes ma ON (ma.no, ma.due, ma.n) = (z.no, false, r.a)"
    " JOIN bench_minutes mb ON (mb.no, mb.due, mb.n) = (z.no, false, r.b)"
    " JOIN bench_minutes mc ON (mc.no, mc.due, mc.n) = (z.no, false, r.c)"
)
BUILD = (
    (
        "workspaces",
        "INSERT INTO workspaces (id, name, timezone) SELECT gen_random_uuid(), 'Practice',"
        f" {_ZONE.format(r='x.r')} FROM generate_series(1, {{spaces}}) AS g"
        " CROSS JOIN LATERAL (SELECT random() + 0 * g AS r) AS x",
    ),
    (
        "users",
        "SET session_replication_role = replica;"
        "CREATE TEMP TABLE spaces AS SELECT row_number() OVER () - 1 AS n, id FROM workspaces;"
        "INSERT INTO users (id, workspace_id, timezone, email, is_active)"
        " SELECT gen_random_uuid(), s.id,"
        f" CASE WHEN x.own < 0.3 THEN {_ZONE.format(r='x.r')} END,"
        " 'u' || g || '@example.com', true"
        " FROM generate_series(1, {users}) AS g JOIN spaces s ON s.n = g % {spaces}"
        " CROSS JOIN LATERAL (SELECT random() + 0 * g AS own, random() AS r) AS x",
    ),
    (
        "settings",
        "INSERT INTO notification_settings (user_id, digest_enabled, digest_time,"
        " notes_reminder_enabled, notes_reminder_time, weekly_report_enabled,"
        " weekly_report_day, weekly_report_time)"
        " SELECT u.id, true, ma.t, true, mb.t, true, 1 + floor(random() * 7)::int, mc.t"
        f" FROM users u LEFT JOIN workspaces w ON w.id = u.workspace_id{_MINUTES};"
        "SET session_replication_role = origin",
    ),
    (
        "the copy",
        f"INSERT INTO local_time_schedules ({', '.join(COPY_COLUMNS)})"
        f" SELECT {', '.join(COPY_COLUMNS)} FROM ({host_source_sql(None)}) AS h;"
        "INSERT INTO local_time_zones SELECT DISTINCT zone FROM local_time_schedules",
    ),
)


async def make_due(dsn: str, what: Measured, count: int) -> list[uuid.UUID]:
    """Moves ``count`` random users' time (and day) into the window, through the triggers."""
    day = f", {what.day_column} = v.isodow" if what.day_column else ""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT u.id, (SELECT t FROM bench_minutes m WHERE m.no = z.no AND m.due"
            " ORDER BY random() + 0 * z.no LIMIT 1) AS t FROM users u TABLESAMPLE SYSTEM (1)"
            " LEFT JOIN workspaces w ON w.id = u.workspace_id"
            " JOIN bench_zones z ON z.name = coalesce(u.timezone, w.timezone) LIMIT $1",
            count,
        )
        ids = [r["id"] for r in rows]
        await conn.execute(
            f"UPDATE notification_settings n SET {what.time_column} = v.t{day}"
            " FROM (SELECT x.id, x.t, m.isodow FROM unnest($1::uuid[], $2::time[]) AS x(id, t)"
            " JOIN users u ON u.id = x.id LEFT JOIN workspaces w ON w.id = u.workspace_id"
            " JOIN bench_zones z ON z.name = coalesce(u.timezone, w.timezone)"
            " JOIN bench_minutes m ON m.no = z.no AND m.due AND m.t = x.t) AS v"
            " WHERE n.user_id = v.id",
            ids,
            [r["t"] for r in rows],
        )
        return ids
    finally:
        await conn.close()


async def put_back(dsn: str, what: Measured, ids: list[uuid.UUID], since: datetime) -> None:
    """The moved users' time back among the minutes not due; their new ledger rows gone."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"UPDATE notification_settings n SET {what.time_column} = v.t"
            " FROM (SELECT u.id, ma.t FROM users u"
            f" LEFT JOIN workspaces w ON w.id = u.workspace_id{_MINUTES}"
            " WHERE u.id = ANY($1::uuid[])) AS v WHERE n.user_id = v.id",
            ids,
        )
        await conn.execute("DELETE FROM reminders_sent WHERE slot >= $1", since)
    finally:
        await conn.close()


async def selection(services: Services, what: Measured, now: datetime, label: str) -> None:
    async def select_ids() -> list[uuid.UUID]:
        return await local_time.due_ids(services, now, what.kind)  # as a tick selects

    await timed(select_ids, 3)
    spent, ids = await timed(select_ids, 30)
    print(summary(f"[{what.kind.kind}, {label}] selection ({len(ids)} selected)", spent))


async def ticks(services: Services, dsn: str, what: Measured, now: datetime, label: str) -> None:
    spent, counts = [], None
    since = slot_instant(now.date() - timedelta(days=1))
    for _ in range(5):
        started = time.perf_counter()
        counts = await what.run_tick(services, now)
        spent.append((time.perf_counter() - started) * 1000)
        conn = await asyncpg.connect(dsn)  # so the next run sends again (not timed)
        await conn.execute("DELETE FROM reminders_sent WHERE slot >= $1", since)
        await conn.close()
    assert counts is not None
    print(summary(f"[{what.kind.kind}, {label}] whole run_tick ({counts.as_dict()})", spent))


async def measure(services: Services, dsn: str, now: datetime, args: argparse.Namespace) -> None:
    window = catch_up_window(now, timedelta(minutes=services.settings.catch_up_minutes))
    for name in args.kinds:
        what = KINDS[name]
        spent, count = await compute_all(services, what.kind, window)
        print(f"[{name}] every instant computed: {spent:.1f} s in {count} tick(s)", flush=True)
        conn = await asyncpg.connect(dsn)
        await conn.execute("VACUUM ANALYZE local_time_schedules")
        await conn.close()
        await selection(services, what, now, "nobody due")
        await ticks(services, dsn, what, now, "nobody due")
        ids = await make_due(dsn, what, args.due)
        await selection(services, what, now, f"{len(ids)} due")
        await ticks(services, dsn, what, now, f"{len(ids)} due")
        await put_back(dsn, what, ids, slot_instant(now.date() - timedelta(days=1)))
        await compute_all(services, what.kind, window)  # the moved users' instants


async def run(args: argparse.Namespace, pg_url: str, smtp_port: int) -> None:
    now = datetime.fromisoformat(args.at).astimezone(UTC)
    window = catch_up_window(now, timedelta(minutes=60))
    url = pg_url.rsplit("/", 1)[0] + "/" + DATABASE
    dsn = url.replace("+asyncpg", "")
    if await kept(dsn, args):
        print(f"kept data set: {marker(args)}")
    else:
        started = time.perf_counter()
        await build(dsn, url, args, window)
        print(f"built {marker(args)} in {time.perf_counter() - started:.0f} s")
    settings = Settings(
        database_url=url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        mail_from="notifier@bench.test",
        smtp_pool_size=16,
        batch_size=500,
    )
    services = open_services(settings, lambda: datetime.now(UTC))
    try:
        await measure(services, dsn, now, args)
    finally:
        await close_services(services)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--zones", type=int, default=400)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--at", default="2026-03-10T14:00:00+00:00")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=Path("/var/lib/notifier-scale"))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    args = parser.parse_args()
    configure_logging("WARNING")
    args.keep.mkdir(parents=True, exist_ok=True)
    args.keep.chmod(0o755)
    pg = start_postgres(args.keep, POSTGRES_SETTINGS)
    smtp = CaptureServer(free_port())
    smtp.start()
    try:
        asyncio.run(run(args, pg.url, smtp.port))
    finally:
        smtp.stop()
        pg.close()


if __name__ == "__main__":
    main()
