"""What following the host costs when its tables are views (contract section 12).

Under ``notifier migrate --own-tables-only`` no trigger keeps ``local_time_schedules``, so the
local-time kinds select straight from the host's relations (``services.local_time``'s direct
statement). This times that selection for a ``daily_digest`` tick over views of the host
tables, for each ``--users`` size, with nobody due and with ``--due`` users due, beside the
copy's indexed selection on the same data::

    .venv/bin/python -m bench.host_views [--users 10000 1000000] [--due 1000]

It starts a throwaway PostgreSQL, loads users as ``bench.local_time_selection`` does, and
puts a view of each host table in schema ``host_views``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.support.servers import start_postgres

from bench.common import create_database, summary, timed, vacuum_analyze
from bench.population import load, make_due, populate
from notifier.db.copy_state import CopyState
from notifier.db.engine import Schemas, make_engine
from notifier.db.host_triggers import install
from notifier.db.index_order import IN_INDEX_ORDER
from notifier.db.migrate import upgrade_to_head
from notifier.db.schema import HOST, metadata
from notifier.logs import configure_logging
from notifier.services.daily_digest import DIGEST
from notifier.services.host_follow import follow_host
from notifier.services.local_time import candidate_ids
from notifier.timemath.windows import catch_up_window

RUNS = 15


def probe_engine(url: str, schemas: Schemas) -> AsyncEngine:
    """An engine like the worker's probes' (``db.index_order``), which a tick selects on."""
    return make_engine(url, pool_size=1, schemas=schemas, session_settings=IN_INDEX_ORDER)


async def views(dsn: str) -> None:
    """A view of every host table in ``host_views``, as a host would map its own."""
    names = [t.name for t in metadata.tables.values() if t.schema == HOST]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE SCHEMA host_views")
        for name in names:
            await conn.execute(f"CREATE VIEW host_views.{name} AS SELECT * FROM public.{name}")
    finally:
        await conn.close()


async def selection(url: str, now: datetime, direct: bool, label: str) -> str:
    """The tick's selection, straight from the views or through the copy."""
    schemas = Schemas("public", "host_views" if direct else "public")
    engine = probe_engine(url, schemas)
    known = CopyState(copy_kept=not direct)
    window = catch_up_window(now, timedelta(minutes=60))

    async def once() -> list[object]:
        async with engine.begin() as conn:  # committed: the copy's moves stay, as a tick's
            return list(await candidate_ids(conn, DIGEST, window, known))

    await once()  # the copy's first pass after loading (every instant computed)
    spent, found = await timed(once, RUNS)
    await engine.dispose()
    return summary(f"{label}: {len(found)} selected", spent)


async def with_triggers(url: str, dsn: str, now: datetime, users: int) -> None:
    """``notifier host-triggers``: the tick with no host change (the copy's index, after one
    read of ``host_changes``), and the refresh a host change costs (every user read through
    the views, changed rows written)."""
    engine = make_engine(url, pool_size=2, schemas=Schemas("public", "host_views"))
    async with engine.begin() as conn:
        await install(conn)
    known = CopyState(kept_by_migration=False)
    window = catch_up_window(now, timedelta(minutes=60))
    await follow_host(engine, known)  # the refresh install asks for

    probes = probe_engine(url, Schemas("public", "host_views"))

    async def tick() -> list[object]:
        await follow_host(engine, known)
        async with probes.begin() as conn:
            return list(await candidate_ids(conn, DIGEST, window, known))

    await tick()  # the first pass after the refresh

    spent, _ = await timed(tick, RUNS)
    print(summary(f"{users} users, host triggers, no host change", spent))

    async def changed() -> None:
        conn = await asyncpg.connect(dsn)
        await conn.execute(
            "UPDATE notification_settings SET digest_skip_weekends = NOT digest_skip_weekends"
            " WHERE user_id = (SELECT user_id FROM notification_settings LIMIT 1)"
        )
        await conn.close()
        await follow_host(engine, known)

    spent, _ = await timed(changed, 5)
    print(summary(f"{users} users, host triggers, refresh after one host change", spent))
    await engine.dispose()
    await probes.dispose()


async def one_size(pg_url: str, users: int, due: int, now: datetime) -> None:
    rnd = random.Random(3)
    url = await create_database(pg_url, f"views_{users}")
    dsn = url.replace("+asyncpg", "")
    await asyncio.to_thread(upgrade_to_head, url)
    pop = populate(users, 400, catch_up_window(now, timedelta(minutes=60)), rnd)
    started = time.perf_counter()
    await load(dsn, pop, rnd, now, None)
    await views(dsn)
    await vacuum_analyze(dsn)
    print(f"{users} users loaded in {time.perf_counter() - started:.0f} s")
    for direct in (False, True):
        how = "views, direct" if direct else "copy, indexed"
        print(await selection(url, now, direct, f"{users} users, {how}, nobody due"))
    await make_due(dsn, pop, due, rnd, "digest_time")
    await vacuum_analyze(dsn)
    for direct in (False, True):
        how = "views, direct" if direct else "copy, indexed"
        print(await selection(url, now, direct, f"{users} users, {how}, {due} due"))
    await with_triggers(url, dsn, now, users)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--at", default="2026-03-10T14:00:00+00:00")
    args = parser.parse_args()
    configure_logging("WARNING")
    now = datetime.fromisoformat(args.at).astimezone(UTC)
    base = Path(tempfile.mkdtemp(prefix="notifier-bench-"))
    base.chmod(0o755)
    pg = start_postgres(base / "pg")
    try:
        for users in args.users:
            asyncio.run(one_size(pg.url, users, args.due, now))
    finally:
        pg.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
