"""``python -m bench.ledger_layouts``: what a claim and a ``sent`` mark cost PostgreSQL per row,
for the ledger as migrated and for leaner layouts of it.

Issue 19 asks for ≤ 40 µs of PostgreSQL CPU per delivered email. An email costs the database
a claim (a new ``pending`` row), a ``sent`` mark (that row updated) and a fresh read of the
host's rows. This measures the first two on their own, with the worker's own statements
(``delivery.ledger``), in the worker's own grouping (claims of ``BATCH`` rows, marks of
``GROUP``, as a loaded worker commits them), on a ledger already holding ``--rows`` rows, as
the backend's CPU from ``/proc``. Each layout is a copy of the migrated table in a schema of
its own, which the engine's schema map points the ledger's statements at:

* ``as migrated``: every index of the migrations (the unique key, the primary key, pending
  leases, holds, ``created_at``, the console's per-user and failed/skipped indexes);
* ``without the console's indexes``: the two of migration 0007 dropped;
* ``created_at and per-user indexes without pending rows``: both made partial (``status <>
  'pending'``), so a claim adds three index entries instead of five, and the ``sent`` mark
  (never a HOT update) adds the row to them as it does today; the console and cleanup
  would then find pending rows through the pending-lease index;
* ``no index reads status or lease``: the pending-lease, hold and failed/skipped indexes
  dropped, so a mark changes no indexed column and can be a HOT update (fillfactor 70
  leaves it room on the page): what moving pending claims out of the ledger's indexes
  (into a table of their own) could gain;
* ``key and primary key only``: nothing but the two keys, HOT marks too;
* ``HOT marks, pending claims in a table of their own``: the ``no index reads status``
  layout, plus what that design needs: each claimed row also written to a small table of
  pending claims (its key, kind, lease and hold, with an index on the lease) and deleted from
  it by its mark. Statement-level triggers with transition tables do it here, one set-based
  statement each, the cost a claim's and a mark's own extra statement would have.

The last two are no layout the worker runs on today (cleanup, ``/health``, holds and the
console read the dropped indexes); the last is the floor of one ledger row per slot updated
from ``pending`` to ``sent``. Prints one line per layout and run; the report quotes them by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from tests.support.servers import start_postgres

from bench.common import POSTGRES_SETTINGS, create_database, plain_dsn
from bench.procs import cpu_seconds
from notifier.db.engine import Schemas, make_engine
from notifier.db.migrate import upgrade_to_head
from notifier.delivery import ledger

BATCH = 500
GROUP = 25
CONSOLE = ("ix_reminders_sent_user_id_created_at", "ix_reminders_sent_unsent_created_at")
HOLDS_AND_LEASES = ("ix_reminders_sent_held", "ix_reminders_sent_pending_lease")


@dataclass(frozen=True)
class Layout:
    """A copy of the ledger in ``schema`` without the indexes named in ``drop``."""

    name: str
    schema: str
    drop: tuple[str, ...] = ()
    fillfactor: int = 100
    add: tuple[str, ...] = ()  # CREATE INDEX statements on ``{table}``


LAYOUTS = (
    Layout("as migrated", "layout_migrated"),
    Layout("without the console's indexes", "layout_no_console", CONSOLE),
    Layout(
        "created_at and per-user indexes without pending rows",
        "layout_no_pending_rows",
        ("ix_reminders_sent_user_id_created_at", "ix_reminders_sent_created_at"),
        add=(
            "CREATE INDEX ON {table} (created_at) WHERE status <> 'pending'",
            "CREATE INDEX ON {table} (user_id, created_at, id) WHERE status <> 'pending'",
        ),
    ),
    Layout(
        "no index reads status or lease (HOT marks)",
        "layout_no_status",
        (*HOLDS_AND_LEASES, "ix_reminders_sent_unsent_created_at"),
        fillfactor=70,
    ),
    Layout(
        "HOT marks, pending claims in a table of their own",
        "layout_side_table",
        (*HOLDS_AND_LEASES, "ix_reminders_sent_unsent_created_at"),
        fillfactor=70,
        add=(
            "CREATE TABLE {schema}.pending_claims (id uuid PRIMARY KEY, kind text NOT NULL,"
            " lease_until timestamptz, held_until timestamptz)",
            "CREATE INDEX ON {schema}.pending_claims (lease_until)",
            "CREATE FUNCTION {schema}.claims_added() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN INSERT INTO {schema}.pending_claims SELECT id, kind, lease_until,"
            " held_until FROM added WHERE status = 'pending'; RETURN NULL; END $$",
            "CREATE TRIGGER claims_added AFTER INSERT ON {table} REFERENCING NEW TABLE AS added"
            " FOR EACH STATEMENT EXECUTE FUNCTION {schema}.claims_added()",
            "CREATE FUNCTION {schema}.claims_done() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN DELETE FROM {schema}.pending_claims p USING done d"
            " WHERE p.id = d.id AND d.status <> 'pending'; RETURN NULL; END $$",
            "CREATE TRIGGER claims_done AFTER UPDATE ON {table} REFERENCING NEW TABLE AS done"
            " FOR EACH STATEMENT EXECUTE FUNCTION {schema}.claims_done()",
        ),
    ),
    Layout(
        "key and primary key only (HOT marks)",
        "layout_keys_only",
        (*CONSOLE, *HOLDS_AND_LEASES, "ix_reminders_sent_created_at"),
        fillfactor=70,
    ),
)


async def build(dsn: str, layout: Layout, rows: int) -> None:
    """The layout's schema: the migrated table's copy, its indexes pruned, ``rows`` old rows."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {layout.schema}")
        table = f"{layout.schema}.reminders_sent"
        await conn.execute(f"CREATE TABLE {table} (LIKE public.reminders_sent INCLUDING ALL)")
        for index in await _copied_indexes(conn, layout):
            await conn.execute(f"DROP INDEX {layout.schema}.{index}")
        for statement in layout.add:
            await conn.execute(statement.format(table=table, schema=layout.schema))
        await conn.execute(f"ALTER TABLE {table} SET (fillfactor = {layout.fillfactor})")
        await conn.execute(_FILL.format(table=table), rows)
        await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()


# Sent rows of the past, one a second, each of its own entity and user, as a ledger fills.
_FILL = """
INSERT INTO {table} (id, kind, entity_id, user_id, slot, channel, status, attempts,
                     created_at, sent_at, message_id)
SELECT gen_random_uuid(), 'appointment_reminder', gen_random_uuid(), gen_random_uuid(),
       now() - g * interval '1 second', 'email', 'sent', 1, now() - g * interval '1 second',
       now(), '<' || g || '@bench>'
FROM generate_series(1, $1) AS g
"""


async def _copied_indexes(conn: asyncpg.Connection, layout: Layout) -> list[str]:
    """The copy's names of the migrated indexes in ``layout.drop`` (LIKE names them anew):
    matched on their definitions without their names and tables."""
    originals = await _definitions(conn, "public.reminders_sent")
    copies = {
        d: name for name, d in (await _definitions(conn, f"{layout.schema}.reminders_sent")).items()
    }
    return [copies[originals[name]] for name in layout.drop]


async def _definitions(conn: asyncpg.Connection, table: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT c.relname AS name,"
        " regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '') AS definition"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = $1::regclass",
        table,
    )
    return {r["name"]: r["definition"] for r in rows}


async def measure(url: str, layout: Layout, n: int) -> tuple[float, float, float]:
    """Backend CPU µs per row of the claims and of the marks, and the share of HOT marks."""
    engine = make_engine(url, schemas=Schemas(own=layout.schema))
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await conn.commit()
            claims, marks = 0.0, 0.0
            for _ in range(n // BATCH):
                spent = await _one_batch(conn, int(pid))
                claims, marks = claims + spent[0], marks + spent[1]
            hot = await _hot_share(conn, layout)
    finally:
        await engine.dispose()
    rows = (n // BATCH) * BATCH
    return claims / rows * 1e6, marks / rows * 1e6, hot


async def _one_batch(conn: AsyncConnection, pid: int) -> tuple[float, float]:
    """One claim of ``BATCH`` new slots, then their marks in groups of ``GROUP``."""
    now = datetime.now(UTC)
    slot = now.replace(microsecond=0)
    keys = [
        ledger.SlotKey("appointment_reminder", uuid.uuid4(), uuid.uuid4(), slot)
        for _ in range(BATCH)
    ]
    before = cpu_seconds(pid)
    won = await ledger.claim(conn, keys, now, timedelta(minutes=5))
    await conn.commit()
    claimed = cpu_seconds(pid)
    for start in range(0, BATCH, GROUP):
        group = keys[start : start + GROUP]
        await ledger.mark_sent_many(
            conn, [ledger.SentMark(k, won[k], f"<{won[k]}@bench>", 1) for k in group], now
        )
        await conn.commit()
    return claimed - before, cpu_seconds(pid) - claimed


async def _hot_share(conn: AsyncConnection, layout: Layout) -> float:
    """Of the table's updates so far, the share PostgreSQL made HOT (this backend's counts
    reach the statistics once flushed)."""
    await conn.execute(text("SELECT pg_stat_force_next_flush()"))
    await conn.commit()
    stmt = text(
        "SELECT n_tup_hot_upd::float / greatest(n_tup_upd, 1) FROM pg_stat_user_tables"
        " WHERE schemaname = :schema AND relname = 'reminders_sent'"
    )
    share = (await conn.execute(stmt, {"schema": layout.schema})).scalar_one()
    return float(share)


async def bench(args: argparse.Namespace, server_url: str) -> None:
    url = await create_database(server_url, "ledger_layouts")
    await asyncio.to_thread(upgrade_to_head, url)
    for layout in LAYOUTS:
        await build(plain_dsn(url), layout, args.rows)
    found: dict[str, list[tuple[float, float]]] = {layout.name: [] for layout in LAYOUTS}
    for run in range(args.runs):
        for layout in LAYOUTS:  # in alternation, so a busy moment touches every layout
            claim, mark, hot = await measure(url, layout, args.n)
            found[layout.name].append((claim, mark))
            print(
                f"run {run + 1} {layout.name}: claim {claim:.1f} µs, mark {mark:.1f} µs a row"
                f" (HOT marks so far {hot:.0%})",
                flush=True,
            )
    for name, runs in found.items():
        claim = statistics.median(c for c, _ in runs)
        mark = statistics.median(m for _, m in runs)
        print(f"{name}: median claim {claim:.1f} + mark {mark:.1f} = {claim + mark:.1f} µs a row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger rows before measuring")
    parser.add_argument("--n", type=int, default=20_000, help="slots claimed and marked a run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="notifier-ledger-layouts-"))
    os.chmod(base, 0o755)  # noqa: S103 - the server runs as ``postgres``, this as root
    server = start_postgres(base / "pg", POSTGRES_SETTINGS)
    try:
        asyncio.run(bench(args, server.url))
    finally:
        server.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
