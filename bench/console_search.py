"""The operator console over a ten-million-row ledger: the deliveries search per filter and the
overview page, end to end over HTTP (issue 17: p95 ≤ 100 ms per filter, overview ≤ 200 ms).

Run from the repository root (PostgreSQL 15 binaries and redis-server, as the tests need)::

    .venv-test/bin/python -m bench.console_search [--rows 10000000] [--runs 50]
        [--keep /tmp/notifier-console-bench]

It starts PostgreSQL in ``--keep`` (kept between runs: the first run builds the data, later
runs reuse it; delete the folder to build again) and a throwaway Redis, migrates to head,
and loads ``--rows`` ``reminders_sent`` rows with ``generate_series`` inside the server
(the console's indexes dropped during the load and built after it, as a restore would): 30
days of history ending at the build's instant, 100,000 users, kinds, channels and statuses
in production-like shares (most rows ``sent`` by email; 2 % failed; ``pending`` only among
the last hour's rows, as cleanup gives up older ones; the webhook channel and the weekly
report rare), plus 30 days of ``job_runs`` for every job at
its default schedule. Then ``VACUUM (ANALYZE)``, as autovacuum would have done.

It serves the real ``notifier web`` application (``ADMIN_PASSWORD`` set) in this process,
with its clock at the build's instant, and times ``GET /admin/api/deliveries`` for each
filter alone (``--runs`` requests each, a different value each time where the filter has
many: a user, an entity, a span, a deep page), and ``GET /admin/`` (the overview: health
verdict, every job's recent ticks, the 24-hour tallies behind the chart, the failures) after
signing in; the page counts the 24 hours once a minute, so the count is also timed alone (a
different minute each run), which is what the first request of each minute adds. Prints
one line per measurement: median, p95 and max in ms. With ``--writes``
it then times the write path's price of migration 0007's indexes: 100,000 claims (one
``INSERT`` of ``pending`` rows, random users) and their ``sent`` marks (one ``UPDATE``),
with and without those indexes, in a transaction rolled back each time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web
from pydantic import SecretStr
from tests.support.servers import (
    Server,
    _as_postgres_user,
    _pg_bin,
    free_port,
    start_postgres,
    start_redis,
)

from bench.common import create_database, plain_dsn, vacuum_analyze
from notifier.config import Settings
from notifier.db.engine import make_engine
from notifier.db.migrate import upgrade_to_head
from notifier.logs import configure_logging
from notifier.ops.deliveries import day_tallies
from notifier.web.app import build_app

PASSWORD = "bench-admin-password-0123"  # noqa: S105  (a throwaway server's)
USERS = 100_000
DAYS = 30
DB = "console"
# (kind, share in ‰), (channel, ‰), (status, ‰): cumulative picks over one random draw each.
KINDS = (
    ("appointment_reminder", 400),
    ("daily_digest", 250),
    ("task_due", 100),
    ("task_reminder", 80),
    ("task_overdue", 70),
    ("notes_reminder", 60),
    ("weekly_report", 39),
    ("recurring_task", 1),
)
CHANNELS = (("email", 800), ("in_app", 170), ("webhook", 30))
STATUSES = (("sent", 940), ("skipped", 40), ("failed", 19), ("pending", 1))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.console_search", description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--writes", action="store_true", help="also time claims and sent marks with and without"
    )
    parser.add_argument(
        "--keep", type=Path, default=Path(tempfile.gettempdir()) / "notifier-console-bench"
    )
    return parser.parse_args(argv)


def _case(column: str, shares: tuple[tuple[str, int], ...], draw: str) -> str:
    """A SQL CASE picking a value by cumulative share (‰) of a random draw in [0, 1000)."""
    parts, upto = [], 0
    for value, share in shares:
        upto += share
        parts.append(f"WHEN {draw} < {upto} THEN '{value}'")
    return f"(CASE {' '.join(parts)} END) AS {column}"


def load_sql(first: int, last: int, built: datetime, rows: int) -> str:
    """Rows ``first``..``last`` of the ledger, spread evenly over ``DAYS`` before ``built``."""
    step = DAYS * 86400 / rows
    user = (
        "('00000000-0000-4000-8000-' || lpad(to_hex(1 + (n::bigint * 7919) % {u}), 12, '0'))::uuid"
    )
    return f"""
INSERT INTO reminders_sent (id, kind, entity_id, user_id, slot, channel, status, attempts,
                            message_id, created_at, sent_at, last_error)
SELECT gen_random_uuid(), kind,
       CASE WHEN kind IN ('daily_digest', 'notes_reminder', 'weekly_report') THEN user_id
            ELSE gen_random_uuid() END,
       user_id, created_at, channel, status, CASE WHEN status = 'failed' THEN 4 ELSE 1 END,
       CASE WHEN channel = 'email' AND status = 'sent' THEN '<' || md5(n::text) || '@bench>' END,
       created_at, CASE WHEN status = 'sent' THEN created_at END,
       CASE WHEN status = 'failed' THEN '550 5.1.1 mailbox unavailable'
            WHEN status = 'skipped' THEN 'appointment reminders are off' END
FROM (
  SELECT n, {user.format(u=USERS)} AS user_id,
         timestamptz '{built.isoformat()}'
           - make_interval(secs => (({rows} - n) * {step})) AS created_at,
         {_case("kind", KINDS, "k")}, {_case("channel", CHANNELS, "c")},
         {_case("draw", STATUSES, "s")}
  FROM (SELECT n, floor(random() * 1000) AS k, floor(random() * 1000) AS c,
               floor(random() * 1000) AS s
        FROM generate_series({first}, {last}) AS n) AS draws
) AS drawn,
LATERAL (SELECT CASE WHEN draw = 'pending' AND created_at <= timestamptz '{built.isoformat()}'
                          - interval '1 hour' THEN 'failed' ELSE draw END AS status) AS settled
"""


JOB_RUNS_SQL = """
INSERT INTO job_runs (id, job_name, run_id, scheduled_for, started_at, finished_at, status,
                      selected, sent, skipped, failed)
SELECT gen_random_uuid(), job, 'cron:' || job || ':' || t::text, t, t + interval '20 ms',
       t + interval '60 ms', 'succeeded', 3, 3, 0, 0
FROM (VALUES ('appointment_reminders', 1), ('daily_digest', 1), ('weekly_report', 1),
             ('notes_reminders', 1), ('task_reminders', 1), ('task_due_reminders', 5),
             ('recurring_tasks', 5), ('overdue_scanner', 15), ('cleanup', 1440)) AS j(job, every),
     generate_series($1::timestamptz - interval '30 days', $1::timestamptz,
                     interval '1 minute') AS t
WHERE (extract(epoch FROM t)::bigint / 60) % every = 0
"""


async def _indexes(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """The ledger's plain indexes (not the key and unique constraints), name and definition."""
    rows = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'reminders_sent' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
    )
    return [(r["indexname"], r["indexdef"]) for r in rows]


async def build(dsn: str, rows: int) -> datetime:
    """Loads the ledger and the job history once; returns the build's instant."""
    built = datetime.now(UTC).replace(microsecond=0)
    conn = await asyncpg.connect(dsn)
    try:
        # One transaction: an interrupted build leaves the migrated, empty schema behind.
        transaction = conn.transaction()
        await transaction.start()
        indexes = await _indexes(conn)
        for name, _ in indexes:
            await conn.execute(f"DROP INDEX {name}")
        chunk = 1_000_000
        for first in range(1, rows + 1, chunk):
            started = time.perf_counter()
            await conn.execute(load_sql(first, min(first + chunk - 1, rows), built, rows))
            print(
                f"loaded rows {first:,}..{min(first + chunk - 1, rows):,} "
                f"in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
        for _, definition in indexes:
            await conn.execute(definition)
        await conn.execute(JOB_RUNS_SQL, built)
        await conn.execute("CREATE TABLE bench_built (at timestamptz NOT NULL)")
        await conn.execute("INSERT INTO bench_built VALUES ($1)", built)
        await transaction.commit()
    finally:
        await conn.close()
    await vacuum_analyze(dsn)
    return built


# Migration 0007's indexes: the write phase times the hot path's statements with and without.
CONSOLE_INDEXES = ("ix_reminders_sent_user_id_created_at", "ix_reminders_sent_unsent_created_at")
CLAIMS_SQL = """
INSERT INTO reminders_sent (id, kind, entity_id, user_id, slot, channel, status, attempts,
                            created_at, lease_until)
SELECT gen_random_uuid(), 'appointment_reminder', gen_random_uuid(),
       ('00000000-0000-4000-8000-' || lpad(to_hex(1 + (n::bigint * 7919) % 100000), 12, '0'))::uuid,
       now() + make_interval(secs => n), 'email', 'pending', 0, now(), now() + interval '5 minutes'
FROM generate_series(1, $1) AS n
"""
MARKS_SQL = """
UPDATE reminders_sent SET status = 'sent', sent_at = now(), attempts = 1, message_id = '<m@b>',
       lease_until = NULL
WHERE status = 'pending' AND created_at = now()
"""


async def _writes_once(conn: asyncpg.Connection, drop: bool, rows: int) -> tuple[float, float]:
    """Claims ``rows`` slots in one statement and marks them sent in another, then rolls it
    all back (the data stays as built); seconds of each."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        for name in CONSOLE_INDEXES if drop else ():
            await conn.execute(f"DROP INDEX {name}")
        started = time.perf_counter()
        await conn.execute(CLAIMS_SQL, rows)
        claimed = time.perf_counter()
        await conn.execute(MARKS_SQL)
        return claimed - started, time.perf_counter() - claimed
    finally:
        await transaction.rollback()


async def writes(dsn: str, rows: int = 100_000, rounds: int = 3) -> None:
    """The write path's price of the console's indexes, alternating with and without."""
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(rounds):
            for drop in (False, True):
                claim, mark = await _writes_once(conn, drop, rows)
                label = "without 0007's indexes" if drop else "with 0007's indexes"
                print(
                    f"writes {label}: {rows:,} claims {rows / claim:,.0f}/s, "
                    f"{rows:,} sent marks {rows / mark:,.0f}/s",
                    flush=True,
                )
    finally:
        await conn.close()


async def built_at(dsn: str) -> datetime | None:
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('bench_built') IS NOT NULL")
        return await conn.fetchval("SELECT at FROM bench_built") if exists else None
    finally:
        await conn.close()


def start_kept_postgres(base: Path) -> Server:
    """PostgreSQL on ``base``: initdb the first time, start on the kept data after."""
    data = base / "pgdata"
    if not (data / "PG_VERSION").exists():
        return start_postgres(base, {"shared_buffers": "1GB"})
    port = free_port()
    argv = [
        *_as_postgres_user(),
        _pg_bin("postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-k",
        str(base / "pgsock"),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "timezone=UTC",
        "-c",
        "shared_buffers=1GB",
    ]
    url = f"postgresql+asyncpg://notifier@127.0.0.1:{port}/postgres"
    ready = [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "notifier", "-q"]
    server = Server("postgres", port, argv, url, base, ready=ready)
    server.start()
    return server


async def samples(dsn: str, runs: int) -> dict[str, list[str]]:
    """Values to search for: users, entities, and deep-page cursors, drawn from the data."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT user_id, entity_id, kind FROM reminders_sent TABLESAMPLE SYSTEM (0.1) LIMIT $1",
            runs,
        )
    finally:
        await conn.close()
    return {
        "users": [str(r["user_id"]) for r in rows],
        "entities": [str(r["entity_id"]) for r in rows],
        "kinds": [str(r["kind"]) for r in rows],
    }


def _filters(built: datetime, found: dict[str, list[str]]) -> dict[str, list[Mapping[str, str]]]:
    """Each measured filter and the values its runs cycle through."""
    spans = [built - timedelta(days=d, hours=h) for d in range(1, 29, 3) for h in (0, 7)]
    return {
        "no filter (newest 50)": [{}],
        "user_id": [{"user_id": u} for u in found["users"]],
        "entity_id": [{"entity_id": e} for e in found["entities"]],
        "entity_id & kind": [
            {"entity_id": e, "kind": k}
            for e, k in zip(found["entities"], found["kinds"], strict=True)
        ],
        "kind (each kind in turn)": [{"kind": k} for k, _ in KINDS],
        "channel (each channel in turn)": [{"channel": c} for c, _ in CHANNELS],
        "status (each status in turn)": [{"status": s} for s, _ in STATUSES],
        "status=failed": [{"status": "failed"}],
        "kind=recurring_task (0.1 % of rows)": [{"kind": "recurring_task"}],
        "channel=webhook (3 % of rows)": [{"channel": "webhook"}],
        "status=pending (the last hour's few)": [{"status": "pending"}],
        "span since/until (one hour, anywhere in 30 days)": [
            {"since": s.isoformat(), "until": (s + timedelta(hours=1)).isoformat()} for s in spans
        ],
        "kind=weekly_report & status=failed": [{"kind": "weekly_report", "status": "failed"}],
    }


async def _time(http: aiohttp.ClientSession, url: str, params: Mapping[str, str]) -> float:
    started = time.perf_counter()
    async with http.get(url, params=params) as answer:
        await answer.read()
        assert answer.status == 200, (answer.status, params)
    return (time.perf_counter() - started) * 1000


def line(label: str, spent: list[float]) -> str:
    ordered = sorted(spent)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"{label}: median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, "
        f"max {ordered[-1]:.1f} ms ({len(ordered)} requests)"
    )


async def _deep_pages(http: aiohttp.ClientSession, base: str, runs: int) -> list[float]:
    """Following ``X-Next-Before`` page after page (500 rows each) from the newest."""
    spent, params = [], {"limit": "500"}
    for _ in range(runs):
        started = time.perf_counter()
        async with http.get(f"{base}/admin/api/deliveries", params=params) as answer:
            await answer.read()
            params = {"limit": "500", "before": answer.headers["X-Next-Before"]}
        spent.append((time.perf_counter() - started) * 1000)
    return spent


async def measure(base: str, built: datetime, found: dict[str, list[str]], runs: int) -> None:
    headers = {"Authorization": f"Bearer {PASSWORD}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for label, choices in _filters(built, found).items():
            await _time(http, f"{base}/admin/api/deliveries", choices[0])  # warm
            spent = [
                await _time(http, f"{base}/admin/api/deliveries", choices[n % len(choices)])
                for n in range(runs)
            ]
            print(line(f"search {label}", spent), flush=True)
        print(line("search: next page, 500 rows, by keyset", await _deep_pages(http, base, runs)))
    await _overview(base, runs)


async def _overview(base: str, runs: int) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{base}/admin/login") as page:
            html = await page.text()
        token = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = {"csrf": token, "password": PASSWORD}
        async with http.post(f"{base}/admin/login", data=form) as signed_in:
            assert signed_in.status == 200, signed_in.status
        await _time(http, f"{base}/admin/", {})
        spent = [await _time(http, f"{base}/admin/", {}) for _ in range(runs)]
        print(line("overview page GET /admin/", spent), flush=True)


async def tally_alone(settings: Settings, built: datetime, runs: int) -> None:
    """The overview's 24-hour count by itself: what the page adds once a minute (cold)."""
    engine = make_engine(settings.async_database_url(), pool_size=1)
    spent = []
    try:
        for n in range(runs + 1):
            started = time.perf_counter()
            async with engine.connect() as conn:
                await day_tallies(conn, built - timedelta(minutes=n))
            spent.append((time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()
    print(line("overview's 24-hour count alone (once a minute)", spent[1:]), flush=True)


async def serve(
    settings: Settings, built: datetime, found: dict[str, list[str]], runs: int
) -> None:
    app = build_app(settings, lambda: built)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await measure(f"http://127.0.0.1:{port}", built, found, runs)
        await tally_alone(settings, built, runs)
    finally:
        await runner.cleanup()


async def run(args: argparse.Namespace, pg: Server, redis: Server) -> None:
    conn = await asyncpg.connect(plain_dsn(pg.url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB)
    finally:
        await conn.close()
    url = pg.url.rsplit("/", 1)[0] + "/" + DB if exists else await create_database(pg.url, DB)
    settings = Settings(database_url=url, redis_url=redis.url, admin_password=SecretStr(PASSWORD))
    await asyncio.to_thread(upgrade_to_head, settings.async_database_url())
    built = await built_at(plain_dsn(url))
    if built is None:
        started = time.perf_counter()
        built = await build(plain_dsn(url), args.rows)
        print(f"built {args.rows:,} ledger rows in {time.perf_counter() - started:.0f} s")
    else:
        print(f"reusing the ledger built at {built.isoformat()} in {args.keep}")
    await serve(settings, built, await samples(plain_dsn(url), args.runs), args.runs)
    if args.writes:
        await writes(plain_dsn(url))


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    configure_logging("WARNING")
    args.keep.mkdir(parents=True, exist_ok=True)
    pg = start_kept_postgres(args.keep)
    scratch = Path(tempfile.mkdtemp(prefix="notifier-console-bench-"))
    try:
        redis = start_redis(scratch)
        try:
            asyncio.run(run(args, pg, redis))
        finally:
            redis.close()
    finally:
        pg.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
