"""A worker started with a newer tz database puts the copy's next-send instants back.

The instants in ``local_time_schedules`` (migration 0010) follow the zone rules of the tz
database that computed them. After a release whose ``tzdata`` changed a zone's rules, an
instant already stored is wrong by that change until the row's next send, up to a day (a week
for the weekly report) late or early. Resetting by hand after such a deploy was a step to
forget; now every worker, at start, compares its release (``timemath.tz_database``) with the
one recorded in ``local_time_tz_database`` (migration 0011) and, if its own is newer or none
is recorded, records it and puts every row's three instants back to ``NOT_COMPUTED``; the next
ticks compute them again with the new rules, as after deploying 0010. What decides is
``timemath.tz_releases`` (the newest release wins, so a rolling deploy does not reset back
and forth).

At start, not at a tick: the local-time ticks belong to another module, and the check is
once per process, not per tick. It runs as a task of its own (``TzResets``), so the worker's
ticks run while it goes over ten million rows: a tick reads a row reset or not, and either is
right (a row not yet reset is as it was before the deploy). ``local_time_marks`` stay: a mark
says which tick instants may move instants on, which a reset does not change, and a row at
``NOT_COMPUTED`` is read by every tick.

Two workers starting together: the claim (read the record, write this release with
``reset_finished_at`` NULL) is one transaction under a lock on the record's table, so one
claims and the other finds the claim. If it finds it unfinished it resets too: the rows are
the same, each chunk skips rows already reset, harmless twice. ``reset_finished_at`` is set
only after a whole pass begun after the claim, so a worker stopped half-way leaves the claim
unfinished and the next start does it again: never a release recorded as done over rows half
reset.

The reset goes in chunks of ``CHUNK`` rows in ``user_id`` order, each its own short
transaction: no lock held for long (a tick's move waits at most one chunk), nothing kept in
memory. Only ids and counts are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass

import structlog
from sqlalchemy import ColumnElement, and_, func, or_, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.db.engine import autocommit, own_schema, qualified
from notifier.db.schema import local_time_schedules, local_time_tz_database
from notifier.db.upsert import upsert
from notifier.rules.local_time_slots import NOT_COMPUTED
from notifier.timemath.tz_database import TzDatabase, current_tz_database
from notifier.timemath.tz_releases import Recorded, Verdict, verdict

log = structlog.get_logger("notifier.tz_reset")
CHUNK = 10_000
RETRY_FIRST_SECONDS = 5.0
RETRY_CAP_SECONDS = 300.0
RECORD_ID = 1
# Every kind's instant, a kind added later included (its column is named so, as 0010's are).
NEXT_COLUMNS = tuple(c.name for c in local_time_schedules.c if c.name.endswith("_next"))


@dataclass(frozen=True)
class Outcome:
    """What a start found (the record before it) and how many rows it put back."""

    verdict: Verdict
    recorded: Recorded | None
    rows: int = 0


async def reconcile(engine: AsyncEngine, database: TzDatabase) -> Outcome:
    """Claims the record for ``database`` and resets every row if its release asks for it."""
    recorded, found = await claim(engine, database)
    _log_verdict(found, recorded, database)
    if found is not Verdict.RESET:
        return Outcome(found, recorded)
    started = time.monotonic()
    rows = await reset_instants(engine)
    await finish(engine, database.version)
    seconds = round(time.monotonic() - started, 1)
    log.info("tz_reset_finished", release=database.version, rows=rows, seconds=seconds)
    return Outcome(found, recorded, rows)


async def claim(engine: AsyncEngine, database: TzDatabase) -> tuple[Recorded | None, Verdict]:
    """The record as found and the verdict; a reset's claim written in the same transaction."""
    async with engine.begin() as conn:
        await _lock(conn)
        recorded = await read_record(conn)
        found = verdict(recorded, database.version)
        if found is Verdict.RESET:
            await _record(conn, database)
    return recorded, found


async def _lock(conn: AsyncConnection) -> None:
    """PostgreSQL: claims one at a time (reads of the record still pass). SQLite writes one
    transaction at a time anyway."""
    if conn.dialect.name == "postgresql":
        table = qualified(own_schema(conn), local_time_tz_database.name)
        await conn.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))


async def read_record(conn: AsyncConnection) -> Recorded | None:
    """The recorded release and whether the reset to it finished; None before any."""
    t = local_time_tz_database.c
    stmt = select(t.release, t.reset_finished_at).where(t.id == RECORD_ID)
    row = (await conn.execute(stmt)).first()
    return None if row is None else Recorded(row.release, row.reset_finished_at is not None)


async def _record(conn: AsyncConnection, database: TzDatabase) -> None:
    """This release, its reset not finished yet."""
    values = {
        "id": RECORD_ID,
        "release": database.version,
        "source": database.source,
        "recorded_at": func.now(),
        "reset_finished_at": None,
    }
    columns = [name for name in values if name != "id"]
    stmt = upsert(conn.dialect.name, local_time_tz_database, ["id"], columns, true())
    await conn.execute(stmt.values(values))


async def finish(engine: AsyncEngine, release: str) -> None:
    """The reset to ``release`` went over every row; not if a newer release claimed since."""
    t = local_time_tz_database.c
    stmt = (
        update(local_time_tz_database)
        .where(t.id == RECORD_ID, t.release == release)
        .values(reset_finished_at=func.now())
    )
    async with autocommit(engine) as conn:
        await conn.execute(stmt)


async def reset_instants(engine: AsyncEngine) -> int:
    """Every row's instants to ``NOT_COMPUTED``, ``CHUNK`` rows a transaction; rows reset."""
    rows, after = 0, None
    while True:
        async with autocommit(engine) as conn:
            end = await _chunk_end(conn, after)
            rows += await _reset_chunk(conn, after, end)
        if end is None:
            return rows
        after = end


async def _chunk_end(conn: AsyncConnection, after: uuid.UUID | None) -> uuid.UUID | None:
    """The last user of the chunk after ``after``; None when fewer than ``CHUNK`` are left."""
    user = local_time_schedules.c.user_id
    stmt = select(user).where(*_after(after)).order_by(user).offset(CHUNK - 1).limit(1)
    found: uuid.UUID | None = await conn.scalar(stmt)
    return found


async def _reset_chunk(
    conn: AsyncConnection, after: uuid.UUID | None, end: uuid.UUID | None
) -> int:
    """The chunk's rows not already reset, put back (a second pass skips them)."""
    s = local_time_schedules.c
    within = [*_after(after), *([] if end is None else [s.user_id <= end])]
    computed = or_(*(s[name] != NOT_COMPUTED for name in NEXT_COLUMNS))
    stmt = (
        update(local_time_schedules)
        .where(and_(*within, computed))
        .values(dict.fromkeys(NEXT_COLUMNS, NOT_COMPUTED))
    )
    return (await conn.execute(stmt)).rowcount


def _after(after: uuid.UUID | None) -> list[ColumnElement[bool]]:
    return [] if after is None else [local_time_schedules.c.user_id > after]


def _log_verdict(found: Verdict, recorded: Recorded | None, database: TzDatabase) -> None:
    """Ids only: the releases and what this start does about them."""
    before = None if recorded is None else recorded.release
    fields = {"release": database.version, "source": database.source, "recorded": before}
    if found is Verdict.RESET:
        log.info("tz_reset_started", **fields)
    elif found is Verdict.KEEP:
        log.info("tz_database_unchanged", **fields)
    else:
        # OLDER: a worker of the release before, beside newer ones (a rolling deploy, or a
        # rollback: runbook). UNKNOWN: no release to compare (the host's files without one).
        log.warning(f"tz_database_{found.value}", **fields)


async def keep_trying(engine: AsyncEngine, database: TzDatabase) -> Outcome:
    """``reconcile`` until it gets through: a database away at start, or a chunk chosen as a
    deadlock's victim beside a tick's move, only delays it (a claim left unfinished is taken
    up again, and chunks already reset are skipped)."""
    delay = RETRY_FIRST_SECONDS
    while True:
        try:
            return await reconcile(engine, database)
        except Exception as exc:
            log.warning("tz_reset_failed", error=type(exc).__name__, retry_seconds=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_CAP_SECONDS)


class TzResets:
    """The start-up check of one worker process, as a task beside its ticks."""

    def __init__(self) -> None:
        self.task: asyncio.Task[Outcome] | None = None

    def start(self, engine: AsyncEngine) -> asyncio.Task[Outcome]:
        """Starts the check with the database this process reads now, unless one is running
        (arq starts again after a Redis outage and calls its start-up hook again)."""
        if self.task is None or self.task.done():
            database = current_tz_database()
            self.task = asyncio.create_task(keep_trying(engine, database), name="tz_reset")
        return self.task

    async def stop(self) -> None:
        """Stops a check still running; its claim stays unfinished for the next start."""
        if self.task is None or self.task.done():
            return
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
