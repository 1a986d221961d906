"""The local-time kinds' selection over the copy: each user's next-send instant, per kind.

Each ``local_time_schedules`` row holds, per kind, the first instant the user may be owed a
notification of it (migration 0010). A tick reads the rows whose instant has come, through a
partial index over the users who can receive the kind: with nobody due that is one empty
probe, whatever the number of users or zones (the ``(zone, time)`` design it replaces probed
each of ~420 zones every tick). Python computes the instants (``rules.local_time_slots``, the
rules that decide, so gap and fold stay in one place), for each row read:

* no due instant of the window: the row moves to its next one (``next_due``);
* some: the ledger says, per slot, whether it is open (selected, as before), in flight (left
  alone), or settled (every row final, or held until a later instant): once all are settled
  the row moves on. A sent slot thus costs one more read, by the next tick.

A row moves only if it is still what the tick read (PostgreSQL: its ``xmin``; SQLite: its
instant), so a schedule changed meanwhile (a trigger puts it back to ``NOT_COMPUTED``) is
computed again by the next tick rather than overwritten from the old schedule. A crash
anywhere leaves the instant where it was: the row is read again, and the ledger decides.

The copy's weekdays are a superset where the copy does not hold them (a digest with
``digest_days``: every day); the fresh row decides in the batch, as it always did.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    Select,
    Text,
    Time,
    Uuid,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.db.engine import own_schema, qualified
from notifier.db.schema import local_time_marks, local_time_schedules, reminders_sent
from notifier.db.types import UtcDateTime, held_wall_time
from notifier.db.upsert import raise_mark
from notifier.delivery.slot_filters import slot_state_sql
from notifier.rules.local_time_slots import (
    NOT_COMPUTED,
    Weekdays,
    due_instant,
    plan_zone,
    slot_instant,
    slots_and_next,
)
from notifier.rules.quiet_hours import before
from notifier.services.held_slots import ending_sql, held_entity_ids, merged, with_quiet_hours
from notifier.timemath.windows import Window

Pair = tuple[uuid.UUID, datetime]  # (user, ledger slot)


@dataclass(frozen=True)
class CopySchedule:
    """Where the copy keeps one local-time kind."""

    kind: str
    next: Column[Any]
    time: Column[Any]
    day_columns: tuple[Column[Any], ...]
    days: Callable[..., Weekdays]  # the day columns' values -> the weekdays it may be due
    due_columns: tuple[str, ...]  # the partial index's predicate

    def due_filter(self) -> list[Column[Any]]:
        return [local_time_schedules.c[name] for name in self.due_columns]


@dataclass(slots=True)
class CopyRow:
    """One copy row as a tick read it; ``token`` tells whether it changed since.

    Not frozen: a frozen dataclass's ``__init__`` costs three times as much (~0.9 µs against
    ~0.3), and a tick with 1,000 due makes 1,000 of them; nothing changes one once made.
    """

    user_id: uuid.UUID
    zone: str
    at: time
    day_values: tuple[Any, ...]
    next: datetime
    token: str | None


@dataclass
class Review:
    """What a tick makes of the rows it read (``review``)."""

    moves: list[tuple[CopyRow, datetime]] = field(default_factory=list)
    owed: dict[uuid.UUID, list[datetime]] = field(default_factory=dict)
    reached: dict[uuid.UUID, list[datetime]] = field(default_factory=dict)
    # A row to move once its slots are settled, with its next instant (None: not yet
    # computed, ``next_after``).
    later: dict[uuid.UUID, tuple[CopyRow, datetime | None]] = field(default_factory=dict)
    # Rows whose slot may have passed unread (``unseen``): instants no tick read in time,
    # and never-computed rows, apart (``looked_back``).
    unseen: list[uuid.UUID] = field(default_factory=list)
    fresh: list[uuid.UUID] = field(default_factory=list)
    # Rows whose instant is not their first slot's in reach (not computed, a changed
    # schedule): that instant, recorded while the row stays (``pin``).
    pins: dict[uuid.UUID, datetime] = field(default_factory=dict)
    # What the rows were reviewed for: ``later``'s instants not yet computed come from them.
    schedule: CopySchedule | None = None
    window: Window | None = None

    def pairs(self) -> list[Pair]:
        return [(user, slot) for user, slots in self.reached.items() for slot in slots]

    def move_on(self, user: uuid.UUID) -> None:
        """The user's row to its next instant after the window (computed now if not yet)."""
        row, after = self.later[user]
        if after is None:
            assert self.schedule is not None and self.window is not None
            after = next_after(row, self.schedule, self.window)
        self.moves.append((row, after))

    def pin(self, user: uuid.UUID) -> None:
        """A row that stays (a slot open or in flight) records its first slot's instant
        where it holds another (a schedule changed since a tick computed it): the ticks that
        read it again take it by that instant alone (``_due_slot``), where they walked its
        dates every time (a 1,000-due tick after a host's change, tick after tick)."""
        if user in self.pins:
            self.moves.append((self.later[user][0], self.pins[user]))


def review(rows: Iterable[CopyRow], schedule: CopySchedule, window: Window) -> Review:
    """Per row, its slots due in ``window`` (``owed``), the slots of the window before it
    too (``reached``: a row moves on only once they are settled as well), and its next instant
    after ``window`` (pure); rows that share a zone, time and weekdays share the computation
    (``_instants``)."""
    found = Review(schedule=schedule, window=window)
    shared: dict[tuple[str, time, Weekdays], Instants] = {}
    short = window.end - window.start <= SHORT_WINDOW
    for row in rows:
        key = (row.zone, row.at, schedule.days(*row.day_values))
        slot = _due_slot(row, key[2], window) if short else None
        if slot is not None:
            found.owed[row.user_id] = found.reached[row.user_id] = [slot]
            found.later[row.user_id] = (row, None)
            continue
        instants = shared.get(key) or shared.setdefault(key, _instants(*key, window))
        owed, reached, after, first = instants
        if reached:
            found.owed[row.user_id] = list(owed)
            found.reached[row.user_id] = list(reached)
            found.later[row.user_id] = (row, after)
            if first != row.next:
                found.pins[row.user_id] = first
        else:
            found.moves.append((row, after))
            if row.next == NOT_COMPUTED:
                found.fresh.append(row.user_id)
            elif unseen(row.next, window):
                found.unseen.append(row.user_id)
    return found


# A window this short holds at most one due instant of a row (a daily kind's come 23 hours
# apart at the least, across a DST change).
SHORT_WINDOW = timedelta(hours=12)


def _due_slot(row: CopyRow, days: Weekdays, window: Window) -> datetime | None:
    """The ledger slot of a row whose own instant is due in ``window`` (short); None when
    it is not, or when its instant is not its local date's due instant (a time a DST gap
    moved past midnight): then ``_instants`` decides.

    Its only slot in the window's reach: a row's instant is the first due instant after the
    window of the tick that moved it, which moved it only once every slot in that window's
    reach was settled. One zone conversion and one cached resolution, where ``_instants``
    walks dates for the slots and the next instant, needed only once the row moves on
    (``next_after``): a third of a 1,000-due tick went there.
    """
    if not (window.start < row.next <= window.end):
        return None
    zone = plan_zone(row.zone)
    day = row.next.astimezone(zone).date()
    return slot_instant(day) if due_instant(day, row.at, zone, days) == row.next else None


def next_after(row: CopyRow, schedule: CopySchedule, window: Window) -> datetime:
    """A row's next due instant after ``window``, for a row ``review`` left it out of."""
    return _instants(row.zone, row.at, schedule.days(*row.day_values), window)[2]


def unseen(instant: datetime, window: Window) -> bool:
    """Whether a computed row's slot of the day before ``window``'s reach may have passed
    with no tick reading the row: its instant fell due there and no tick's window held it
    (an outage longer than the catch-up window). Never-computed rows are ``Review.fresh``
    (``UNSEEN_NEW``). Such a slot is past, unless the user's quiet hours held it into this
    window (contract section 10), which only the fresh row tells (``process_batch``)."""
    return before(window).start < instant <= reach(window).start


# Never-computed rows a tick looks back for: a schedule new to the worker or just changed
# comes a few at a time; more is a bulk rewrite (a tz reset, a deploy of 0010), whose slots
# the ticks before it saw and held. Looking back for 400,000 of them a tick starved the
# worker's event loop (``python -m bench``'s memory phase, whose worker starts with a reset).
UNSEEN_NEW = 1_000


def looked_back(found: Review) -> list[uuid.UUID]:
    """The users a tick looks back for: ``found.unseen``, and the never-computed rows
    unless a chunk holds more than ``UNSEEN_NEW`` of them."""
    return found.unseen + found.fresh if len(found.fresh) <= UNSEEN_NEW else found.unseen


def reach(window: Window) -> Window:
    """``window`` and the ``REACH`` before it: the slots a row must have settled to move on.

    A tick that moved a row past a slot just before its own window would hide that slot from
    a tick still running behind it (cron ticks overlap; a tick a little late behind a later
    one), which owes it; so the later tick leaves such a row where it is, and a tick less than
    ``REACH`` behind the latest mover can trust the instants (``may_move``). Only ``REACH``,
    not a whole window: a slot there that nobody sent (a first pass after a reset, an outage)
    keeps its row read by every tick until it passes out of reach.
    """
    return Window(window.start - REACH, window.end)


# A row's ledger slots due in a tick's window, those due in ``reach`` of it, the next due
# instant after the window, and the due instant of the first slot in reach (the window's
# end when there is none).
Instants = tuple[tuple[datetime, ...], tuple[datetime, ...], datetime, datetime]


def _instants(zone_name: str, at: time, days: Weekdays, window: Window) -> Instants:
    """The ledger slots due in ``window`` and in its ``reach``, and the next due instant
    after it.

    Not cached by the window, which moves every tick: ``slots_and_next`` caches by date.
    """
    slots, after = slots_and_next(plan_zone(zone_name), at, days, reach(window))
    owed = tuple([slot_instant(slot.day) for slot in slots if slot.due in window])
    first = slots[0].due if slots else window.end
    return owed, tuple([slot_instant(slot.day) for slot in slots]), after, first


def settle(found: Review, states: dict[Pair, tuple[bool, bool]]) -> list[uuid.UUID]:
    """The users with a slot open in the window (selected); those whose every slot in its
    ``reach`` is settled move on, the others record their first slot's instant (``pin``).

    A pair without a state is open and not settled (``slot_states`` leaves those out), so
    with no state at all every owed user is selected (~1 ms a tick saved with 1,000 due).
    """
    if not states:
        for user in found.pins:
            found.pin(user)
        return [user for user, slots in found.owed.items() if slots]
    selected = []
    for user, slots in found.reached.items():
        if any(states.get((user, slot), (True, False))[0] for slot in found.owed[user]):
            selected.append(user)
            found.pin(user)
        elif all(states.get((user, slot), (True, False))[1] for slot in slots):
            found.move_on(user)
        else:
            found.pin(user)
    return selected


async def candidates(
    conn: AsyncConnection, schedule: CopySchedule, window: Window
) -> list[uuid.UUID]:
    """Users with a slot of the kind owed in ``window`` and open in the ledger, then those
    with a slot whose hold for quiet hours ends in it (``services.held_slots``); moves every
    row read on to its next instant where nothing is left for this one.

    In chunks of ``CHUNK`` rows in the index's order, each moved before the next is read, and
    at most ``BUDGET`` rows a tick: a first tick over ten million "not computed" rows keeps
    little in memory, and what it moved stays moved if the tick is stopped; the rest is the
    next tick's.
    """
    selected: list[uuid.UUID] = []
    unseen_users: list[uuid.UUID] = []
    after, moved = START, 0
    held: list[uuid.UUID] = []
    for _ in range(BUDGET // CHUNK):
        read = await read_due(conn, schedule, window, after, with_held=after == START)
        held += read.held
        if not may_move(window, read.mark, read.db_now):
            return merged(await _without_moving(conn, schedule, window), held)
        found, chosen = await _review(conn, schedule, window, read.rows)
        selected += chosen
        unseen_users += looked_back(found)
        if found.moves:
            await move(conn, schedule, found.moves, window.end)
            moved += len(found.moves)
        if len(read.rows) < CHUNK:
            break
        after = (read.rows[-1].next, read.rows[-1].user_id)
    if moved >= ANALYZE_AFTER and conn.dialect.name == "postgresql":
        await conn.execute(text(f"ANALYZE {qualified(own_schema(conn), TABLE)}"))
    if unseen_users:
        selected += await with_quiet_hours(conn, unseen_users)
    return merged(sorted(set(selected)), held)


async def _review(
    conn: AsyncConnection, schedule: CopySchedule, window: Window, rows: Sequence[CopyRow]
) -> tuple[Review, list[uuid.UUID]]:
    """The rows' review, and the users selected once the ledger told their slots' states."""
    found = review(rows, schedule, window)
    pairs = found.pairs()
    return found, settle(found, await slot_states(conn, schedule.kind, pairs)) if pairs else []


async def _without_moving(
    conn: AsyncConnection, schedule: CopySchedule, window: Window
) -> list[uuid.UUID]:
    """A tick that may not move instants: every row of the kind, read and reviewed, in
    chunks of ``CHUNK`` rows in user order (ten million rows read at once held gigabytes).

    The instants tell nothing about a window this far back, so whether a tick saw a slot
    of the day before it is not known either: every user with quiet hours is selected too,
    and the fresh row decides whether their period held one into the window."""
    selected: list[uuid.UUID] = []
    after: uuid.UUID | None = None
    while True:
        rows = await read_rows(conn, schedule, after)
        selected += (await _review(conn, schedule, window, rows))[1]
        selected += await with_quiet_hours(conn, [row.user_id for row in rows])
        if len(rows) < CHUNK:
            return sorted(set(selected))
        after = rows[-1].user_id


# Rows read a statement, and a tick; where a tick's reading starts in the index's order.
CHUNK = 20_000
BUDGET = 400_000
START = (datetime(1, 1, 1, tzinfo=UTC), uuid.UUID(int=0))
Key = tuple[datetime, uuid.UUID]

# A tick that moved this many rows (the first after migration 0010, a host's bulk rewrite)
# has the copy analysed at once: with statistics still saying every instant is past, the
# planner read all rows (~140 ms a tick at a million users) until autovacuum got to it.
ANALYZE_AFTER = 100_000
TABLE = "local_time_schedules"

# How far ahead of the database's clock a tick may still move instants on.
FUTURE_SLACK = timedelta(minutes=5)
# How far behind the latest tick that moved instants a tick may run and still trust them.
REACH = timedelta(minutes=10)


def may_move(window: Window, mark: datetime | None, db_now: datetime) -> bool:
    """Whether a tick at ``window`` reads through the instants and moves them on.

    Not a tick more than ``REACH`` earlier than the latest that moved them (``notifier run
    --at`` a past instant, a tick run late): instants past its window may no longer tell what
    it owes, so it reads every row, and moves none. A tick less than ``REACH`` behind (cron
    ticks that overlap) can trust them: a row moves on only once every slot in ``reach`` of
    the mover's window is settled, and that covers this tick's window. Not a tick in the
    future either: it would move instants over every due one before it, which the ticks of
    the real clock then would never see.
    """
    if mark is not None and window.end < mark - REACH:
        return False
    return window.end <= db_now + FUTURE_SLACK


@dataclass(frozen=True)
class DueRead:
    """The rows whose instant has come, with the kind's mark and the database's clock, and
    (if asked for) the users with a slot whose hold ends in the window."""

    rows: list[CopyRow]
    mark: datetime | None
    db_now: datetime
    held: list[uuid.UUID] = field(default_factory=list)


async def read_due(
    conn: AsyncConnection,
    schedule: CopySchedule,
    window: Window,
    after: Key = START,
    with_held: bool = False,
) -> DueRead:
    """Up to ``CHUNK`` rows whose instant is the window's end or earlier, after ``after`` in
    the index's order, with the mark and the database's clock and, ``with_held``, the held
    slots' users: one round trip on PostgreSQL (a tick with nobody due makes only this one
    and its ``job_runs`` row)."""
    if conn.dialect.name == "postgresql":
        return await _read_due_postgresql(conn, schedule, window, after, with_held)
    return await _read_due_sqlite(conn, schedule, window, after, with_held)


async def _read_due_sqlite(
    conn: AsyncConnection, schedule: CopySchedule, window: Window, after: Key, with_held: bool
) -> DueRead:
    """``read_due`` through SQLAlchemy (dev mode's SQLite), the held slots read apart."""
    now = window.end
    s = local_time_schedules.c
    key = tuple_(schedule.next, s.user_id)
    later = key > tuple_(literal(after[0], UtcDateTime()), literal(after[1], Uuid()))
    chunk = _rows(conn, schedule, now).where(later).order_by(schedule.next, s.user_id)
    rows = chunk.limit(CHUNK).subquery()
    m = local_time_marks.c
    mark = select(m.moved_until).where(m.kind == schedule.kind).scalar_subquery()
    head = select(mark.label("mark"), func.now(type_=UtcDateTime()).label("db_now")).subquery()
    stmt = select(head.c.mark, head.c.db_now, *rows.c).select_from(head.outerjoin(rows, true()))
    result = (await conn.execute(stmt)).all()
    found = [_copy_row(r, schedule, 2) for r in result if r[2] is not None]
    held = await held_entity_ids(conn, schedule.kind, window) if with_held else []
    return DueRead(found, result[0][0], result[0][1], held)


async def _read_due_postgresql(
    conn: AsyncConnection, schedule: CopySchedule, window: Window, after: Key, with_held: bool
) -> DueRead:
    """The same statement as text, straight to the driver: SQLAlchemy's building, caching
    and typing of the statement cost ~0.8 ms, eight times what PostgreSQL spends on it."""
    sql = _due_sql(schedule, own_schema(conn), conn.dialect)
    params = (window.end, schedule.kind, after[0], after[1], CHUNK, with_held, window.start)
    result = await _fetch(conn, sql, *params)
    found = [_copy_row(r, schedule, 3) for r in result if r[2] == _DUE]
    held = [r[3] for r in result if r[2] == _HELD]
    return DueRead(found, result[0][0], result[0][1], held)


async def _fetch(conn: AsyncConnection, sql: str, *params: Any) -> Sequence[Any]:
    """``sql``'s rows (PostgreSQL: ``$1``... parameters) as the driver returns them, through
    SQLAlchemy all the same: its errors, and a lost connection's invalidation, stay its own
    (asyncpg's own ``fetch`` was ~0.5 ms faster a tick with 1,000 due, not worth that)."""
    return (await conn.exec_driver_sql(sql, params)).all()


# What a row of ``_due_sql`` holds after the mark and the clock: a copy row, or a held user.
_DUE, _HELD = 0, 1


@cache
def _due_sql(schedule: CopySchedule, schema: str | None, dialect: Dialect) -> str:
    """``read_due``'s statement for PostgreSQL: ``$1`` the window's end, ``$2`` the kind,
    ``$3`` and ``$4`` the key to read after, ``$5`` the chunk's size, ``$6`` whether to add
    the held slots' users (``held_slots.ending_sql``), ``$7`` the window's start. A row is
    the mark, the clock, its part (``_DUE`` or ``_HELD``), then a copy row or a user id."""
    at = held_wall_time(schedule.time, type_=Time()).compile(dialect=dialect)
    days = "".join(f", s.{column.name}" for column in schedule.day_columns)
    due = " AND ".join(f"s.{name}" for name in schedule.due_columns)
    column = schedule.next.name
    held = ending_sql("$2", "$7", "$1")
    return (
        "SELECT m.moved_until, now(), c.* FROM (SELECT 1) AS one"
        f" LEFT JOIN {qualified(schema, 'local_time_marks')} AS m ON m.kind = $2"
        f" LEFT JOIN LATERAL ((SELECT {_DUE} AS part, s.user_id, s.zone, {at}, s.{column},"
        f" CAST(s.xmin AS text){days} FROM {qualified(schema, 'local_time_schedules')} AS s"
        f" WHERE s.{column} <= $1 AND {due} AND (s.{column}, s.user_id) > ($3, $4)"
        f" ORDER BY s.{column}, s.user_id LIMIT $5)"
        f" UNION ALL SELECT {_HELD}, h.entity_id{', NULL' * (4 + len(schedule.day_columns))}"
        f" FROM (SELECT DISTINCT r.entity_id FROM {qualified(schema, 'reminders_sent')} AS r"
        f" WHERE $6 AND {held}) AS h) AS c ON true"
    ).replace("local_time_schedules.", "s.")


async def read_rows(
    conn: AsyncConnection, schedule: CopySchedule, after: uuid.UUID | None = None
) -> list[CopyRow]:
    """The next ``CHUNK`` rows after user ``after`` of users who can receive the kind (a
    tick that may not move instants)."""
    user = local_time_schedules.c.user_id
    stmt = _rows(conn, schedule, None).order_by(user).limit(CHUNK)
    rows = (await conn.execute(stmt if after is None else stmt.where(user > after))).all()
    return [_copy_row(r, schedule) for r in rows]


def _rows(conn: AsyncConnection, schedule: CopySchedule, now: datetime | None) -> Select[Any]:
    s = local_time_schedules.c
    pg = conn.dialect.name == "postgresql"
    token = literal_column("CAST(local_time_schedules.xmin AS text)" if pg else "NULL", Text())
    stmt = select(
        s.user_id,
        s.zone,
        held_wall_time(schedule.time, type_=Time()).label("at"),
        schedule.next,
        token.label("token"),
        *schedule.day_columns,
    ).where(*schedule.due_filter())
    return stmt if now is None else stmt.where(schedule.next <= now)


def _copy_row(r: Sequence[Any], schedule: CopySchedule, first: int = 0) -> CopyRow:
    """The copy row at ``first`` in ``r`` (a due read puts the mark and the clock before it)."""
    days = tuple(r[first + 5 : first + 5 + len(schedule.day_columns)])
    return CopyRow(r[first], r[first + 1], r[first + 2], days, r[first + 3], r[first + 4])


async def slot_states(
    conn: AsyncConnection, kind: str, pairs: Sequence[Pair]
) -> dict[Pair, tuple[bool, bool]]:
    """Per (user, slot) whose state is not "open, not settled": whether it is open, and
    whether it is settled (``slot_filters``); the pairs left out are open and not settled,
    as a slot without rows is (``settle``'s default). Most owed slots have no rows yet, and
    each row returned cost ~2 µs to send, type and read."""
    ledger = qualified(own_schema(conn), "reminders_sent")
    if conn.dialect.name == "postgresql":
        rows = await _fetch(
            conn, _states_sql(ledger), [u for u, _ in pairs], [s for _, s in pairs], kind
        )
    else:
        rows = await _states_sqlite(conn, ledger, kind, pairs)
    return {(r[0], r[1]): (bool(r[2] & 1), bool(r[2] & 2)) for r in rows}


# A state other than 1: "open, not settled" is every pair's default (``settle``).
_NOT_DEFAULT = "SELECT * FROM ({states}) AS t WHERE t.state <> 1"


@cache
def _states_sql(ledger: str) -> str:
    """``slot_states``' statement for PostgreSQL: ``$1`` the users, ``$2`` their slots,
    ``$3`` the kind."""
    state = slot_state_sql(ledger, "c.user_id", "c.slot").replace(":kind", "$3")
    source = "unnest(CAST($1 AS uuid[]), CAST($2 AS timestamptz[])) AS c(user_id, slot)"
    return _NOT_DEFAULT.format(states=f"SELECT c.user_id, c.slot, {state} AS state FROM {source}")


async def _states_sqlite(
    conn: AsyncConnection, ledger: str, kind: str, pairs: Sequence[Pair]
) -> Sequence[Any]:
    """``slot_states``' rows on SQLite: the pairs as one JSON array."""
    user, slot = "json_extract(c.value, '$[0]')", "json_extract(c.value, '$[1]')"
    state = slot_state_sql(ledger, user, slot)
    states = (
        f"SELECT {user} AS user_id, {slot} AS slot, {state} AS state FROM json_each(:pairs) AS c"
    )
    stmt = text(_NOT_DEFAULT.format(states=states))
    stmt = stmt.bindparams(kind=kind, pairs=_pairs_json(pairs, conn.dialect))
    typed = stmt.columns(user_id=Uuid(), slot=UtcDateTime(), state=Integer())
    return (await conn.execute(typed)).all()


def _pairs_json(pairs: Sequence[Pair], dialect: Dialect) -> str:
    """SQLite: the pairs as one JSON array, each value in the text form SQLite stores."""
    store_user = _storer(reminders_sent.c.user_id.type, dialect)
    store_slot = _storer(reminders_sent.c.slot.type, dialect)
    return json.dumps([[store_user(u), store_slot(s)] for u, s in pairs])


def _storer(column_type: Any, dialect: Dialect) -> Callable[[Any], str]:
    """Writes a value as the column's dialect binds it (SQLite: its own text format)."""
    process = column_type.dialect_impl(dialect).bind_processor(dialect)

    def store(value: Any) -> str:
        stored = process(value) if process is not None else value
        return stored if isinstance(stored, str) else str(stored.isoformat())

    return store


async def move(
    conn: AsyncConnection,
    schedule: CopySchedule,
    moves: Sequence[tuple[CopyRow, datetime]],
    until: datetime,
) -> None:
    """Each row on to its new instant, if it is still what the tick read; the kind's mark
    to ``until`` first, so a tick further back never trusts instants moved past it."""
    await _raise_mark(conn, schedule.kind, until)
    if conn.dialect.name == "postgresql":
        await _move_postgresql(conn, schedule, moves)
        return
    s = local_time_schedules.c
    stmt = (
        update(local_time_schedules)
        .where(
            s.user_id == bindparam("user", type_=Uuid()),
            schedule.next == bindparam("old", type_=UtcDateTime()),
        )
        .values({schedule.next.name: bindparam("new", type_=UtcDateTime())})
    )
    rows = [{"user": row.user_id, "old": row.next, "new": new} for row, new in moves]
    await conn.execute(stmt, rows)


async def _raise_mark(conn: AsyncConnection, kind: str, until: datetime) -> None:
    await raise_mark(conn, "local_time_marks", "moved_until", kind, until)


async def _move_postgresql(
    conn: AsyncConnection, schedule: CopySchedule, moves: Sequence[tuple[CopyRow, datetime]]
) -> None:
    table = qualified(own_schema(conn), "local_time_schedules")
    column = schedule.next.name
    # A move never waits for a row lock (SKIP LOCKED): a row another writer holds (a tz
    # reset's chunk, another kind's tick moving the same users, a host's change) stays where
    # it is, to be read again by the next tick, which costs a recomputation, not a send.
    # Waiting had two of them lock rows in different orders and PostgreSQL fail one (a
    # deadlock, seen when a worker's start reset the instants beside ticks that moved them).
    # A row changed since the tick read it fails the token check, also once re-checked
    # after a wait-free lock.
    sql = (
        f"UPDATE {table} AS s SET {column} = c.new FROM ("
        f" SELECT t.user_id, m.new FROM {table} AS t"
        " JOIN unnest(CAST(:users AS uuid[]), CAST(:tokens AS text[]),"
        " CAST(:news AS timestamptz[])) AS m(user_id, token, new)"
        " ON t.user_id = m.user_id AND CAST(t.xmin AS text) = m.token"
        " FOR NO KEY UPDATE OF t SKIP LOCKED) AS c"
        " WHERE s.user_id = c.user_id"
    )
    params = {
        "users": [row.user_id for row, _ in moves],
        "tokens": [row.token for row, _ in moves],
        "news": [new for _, new in moves],
    }
    await conn.execute(text(sql), params)
