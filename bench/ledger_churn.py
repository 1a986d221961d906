"""``python -m bench.ledger_churn``: PostgreSQL's CPU an email end to end, round after round,
with the ledger as migrated and with the HOT-mark design.

``bench.ledger_layouts`` measures one backend's claims and marks on a fresh copy of the
ledger. What it cannot see is what the marks leave behind: every ``sent`` mark is an update
that changes a column an index reads (``status`` is in three partial indexes' predicates), so
PostgreSQL writes the row anew and adds it to the table's four other indexes, and the dead
versions wait for vacuum, which then reads every index. The HOT-mark design moves what those
three indexes serve (pending leases, the console's failed and skipped rows) to a table of the
ledger's unsent rows kept by statement triggers, finds holds by ``held_until`` alone, and
leaves a third of each new page free: a mark then changes no indexed column and stays on its
page (a HOT update), as ``pg_stat_user_tables.n_tup_hot_upd`` shows.

Two servers, one database each (so that neither's autovacuum is counted in the other's
rounds), loaded alike (``--users`` users and appointments, the
benchmark's own population); each round adds ``--n`` appointments whose reminder is due, runs
the worker's own ``notifier run appointment_reminders`` against one database, then the other
(the worker's statements unchanged: the design changes no statement of the sending path),
and reads the server's CPU (all its processes, autovacuum included), then retires them.
Prints one line per round and database, and the medians; the report quotes them by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from tests.support.processes import notifier_command
from tests.support.servers import Server, local_servers, start_postgres

from bench import appointments
from bench.common import (
    POSTGRES_SETTINGS,
    bench_settings,
    create_database,
    plain_dsn,
    vacuum_analyze,
)
from bench.population import load, populate
from bench.procs import SinkProcess, cpu_snapshot, worker_env
from notifier.config import Settings
from notifier.db.migrate import upgrade_to_head
from notifier.timemath.windows import catch_up_window


def as_migrated() -> str:
    return ""


def hot_marks() -> str:
    """The design, on a database at head: the unsent rows' table and its triggers, the
    ledger's indexes that read ``status`` or ``lease_until`` dropped, holds found by
    ``held_until`` alone, a third of each new page left free."""
    return f"""
CREATE TABLE reminders_unsent (
    id uuid PRIMARY KEY, kind text NOT NULL, status text NOT NULL, slot timestamptz NOT NULL,
    created_at timestamptz NOT NULL, lease_until timestamptz, held_until timestamptz);
CREATE INDEX ON reminders_unsent (lease_until) WHERE status = 'pending';
CREATE INDEX ON reminders_unsent (status, created_at, id) WHERE status IN ('failed', 'skipped');
{_copy_unsent("reminders_sent")}
CREATE FUNCTION unsent_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    {_copy_unsent("changed")}
    RETURN NULL; END $$;
CREATE FUNCTION unsent_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    DELETE FROM reminders_unsent WHERE id = ANY (ARRAY(SELECT id FROM was));
    {_copy_unsent("changed")}
    RETURN NULL; END $$;
CREATE FUNCTION unsent_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    DELETE FROM reminders_unsent WHERE id = ANY (ARRAY(SELECT id FROM was));
    RETURN NULL; END $$;
CREATE TRIGGER unsent_added AFTER INSERT ON reminders_sent
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION unsent_added();
CREATE TRIGGER unsent_changed AFTER UPDATE ON reminders_sent
    REFERENCING OLD TABLE AS was NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION unsent_changed();
CREATE TRIGGER unsent_removed AFTER DELETE ON reminders_sent
    REFERENCING OLD TABLE AS was FOR EACH STATEMENT EXECUTE FUNCTION unsent_removed();
DROP INDEX ix_reminders_sent_pending_lease, ix_reminders_sent_held,
    ix_reminders_sent_unsent_created_at;
CREATE INDEX ix_reminders_sent_held ON reminders_sent (kind, held_until)
    WHERE held_until IS NOT NULL;
ALTER TABLE reminders_sent SET (fillfactor = 70);
"""


def _copy_unsent(source: str) -> str:
    """The statement copying ``source``'s rows not ``sent`` into the unsent rows' table."""
    return (
        "INSERT INTO reminders_unsent SELECT id, kind, status, slot, created_at, lease_until,"
        f" held_until FROM {source} WHERE status <> 'sent';"
    )


LAYOUTS: dict[str, Callable[[], str]] = {
    "as migrated": as_migrated,
    "HOT marks, unsent rows in a table of their own": hot_marks,
}
UPDATES = (
    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'reminders_sent'"
)


@dataclass(frozen=True)
class Round:
    """One ``notifier run`` against one database."""

    sent: int
    seconds: float
    cpu_us: float  # the server's CPU an email
    updates: int
    hot: int


async def build(pg: Server, name: str, at: datetime, users: int, extra: Callable[[], str]) -> str:
    """A database at head, the benchmark's population and appointments, then ``extra``."""
    url = await create_database(pg.url, name)
    await asyncio.to_thread(upgrade_to_head, url)
    dsn, rnd = plain_dsn(url), random.Random(1)
    pop = populate(users, 400, catch_up_window(at, timedelta(minutes=60)), rnd)
    await load(dsn, pop, rnd, at, random.Random(2))
    await appointments.build_background(dsn, users, at)
    if statements := extra():
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statements)
        finally:
            await conn.close()
    await vacuum_analyze(dsn)
    return url


async def one_round(
    pg: Server, redis: Server, url: str, n: int, *, due: datetime, folder: Path
) -> Round:
    """``n`` reminders due at ``due``, sent by one ``notifier run``; the server's CPU."""
    dsn, tag = plain_dsn(url), f"churn-{due:%H%M}"
    await appointments.add_due(dsn, n, due, tag)
    sink = SinkProcess.start(folder, tag)
    try:
        before, updates = cpu_snapshot({"postgres": _pid(pg)}), await _updates(dsn)
        started = time.monotonic()
        sent = _run(_settings(url, redis, sink.port), due + timedelta(seconds=30))
        seconds = time.monotonic() - started
        after = cpu_snapshot({"postgres": _pid(pg)})
    finally:
        sink.stop()
    await asyncio.sleep(1)  # the backends' counts reach the statistics
    done = [b - a for a, b in zip(updates, await _updates(dsn), strict=True)]
    await appointments.retire(dsn, tag)
    cpu = (after["postgres"] - before["postgres"]) / max(sent, 1) * 1e6
    return Round(sent, seconds, cpu, done[0], done[1])


def _pid(server: Server) -> int:
    assert server.proc is not None
    return server.proc.pid


def _settings(url: str, redis: Server, port: int) -> Settings:
    """The benchmark's own settings (16 SMTP connections, batches of 500), this sink's port."""
    sized = argparse.Namespace(connections=16, batch_size=500)
    return bench_settings(sized, url, redis.url).model_copy(update={"smtp_port": port})


def _run(settings: Settings, at: datetime) -> int:
    """``notifier run appointment_reminders --at at``; the emails it sent."""
    env = worker_env(settings)  # the pool and batch sizes of ``settings``
    argv = [*notifier_command(), "run", "appointment_reminders", "--at", at.isoformat()]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return 0
    return int(json.loads(done.stdout)["sent"])


async def _updates(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(UPDATES)
    finally:
        await conn.close()
    assert row is not None
    return int(row[0]), int(row[1])


async def bench(
    args: argparse.Namespace, servers: dict[str, Server], redis: Server, folder: Path
) -> None:
    at = datetime.now(UTC).replace(second=0, microsecond=0)
    urls = {
        name: await build(servers[name], "churn", at, args.users, extra)
        for name, extra in LAYOUTS.items()
    }
    found: dict[str, list[float]] = {name: [] for name in urls}
    for number in range(args.rounds):
        for name, url in urls.items():  # in alternation: a busy moment touches both
            due = at + timedelta(minutes=10 + number)
            pg = servers[name]
            result = await one_round(pg, redis, url, args.n, due=due, folder=folder)
            found[name].append(result.cpu_us)
            print(
                f"round {number + 1} {name}: {result.sent:,} sent in {result.seconds:.1f} s,"
                f" PostgreSQL CPU {result.cpu_us:.1f} µs an email,"
                f" HOT updates {result.hot:,} of {result.updates:,}",
                flush=True,
            )
    for name, spent in found.items():
        rounds = ", ".join(f"{us:.1f}" for us in spent)
        print(f"{name}: median {statistics.median(spent):.1f} µs an email ({rounds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200_000, help="users, and appointments")
    parser.add_argument("--n", type=int, default=20_000, help="reminders sent a round")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="notifier-churn-"))
    os.chmod(folder, 0o755)  # noqa: S103 - the second server runs as ``postgres``, this as root
    with local_servers(POSTGRES_SETTINGS) as (pg, redis):
        second = start_postgres(folder / "pg", POSTGRES_SETTINGS)
        try:
            names = list(LAYOUTS)
            asyncio.run(bench(args, {names[0]: pg, names[1]: second}, redis, folder))
        finally:
            second.close()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
