"""``recurring_tasks``: the next instance of each completed recurring task, exactly once.

Selection: completed recurring tasks with ``last_processed_at IS NULL``, from the partial index
``ix_tasks_recurring_unprocessed``, so a tick costs the backlog, not the table.

Exactly one instance (contract section 5), whatever runs at the same time: each batch is ONE
transaction that

1. locks its source rows with ``SELECT … FOR UPDATE SKIP LOCKED`` (a second worker skips them
   instead of waiting, then finds them processed);
2. sets ``last_processed_at`` with ``UPDATE … WHERE last_processed_at IS NULL RETURNING id``;
3. inserts the instances of exactly the rows that UPDATE returned (``INSERT … SELECT`` from
   the source row, so copied values are byte-for-byte the host's).

A crash anywhere before COMMIT leaves neither the instance nor the mark. On SQLite (embedded
mode) SQLAlchemy omits FOR UPDATE; its single writer and step 2's condition keep it single
(a concurrent second process fails its tick with "database is locked" instead of duplicating).

The instance copies ``workspace_id``, ``user_id``, ``title``, ``description``, ``priority``,
``tags`` and every recurrence column, is ``open`` and not completed, points ``parent_task_id`` at
the series' first task, and is due at the next occurrence after the completed task's
``due_date`` (see ``rules.recurrence``), even if that is already past: the contract counts
from the completed one's date, not from now. Instances are made for inactive users too:
they are the host's data, only emails follow the user's switches.

Counts (``TickCounts``): ``selected`` candidates; ``sent`` instances created; ``skipped``
processed without an instance (series ended by ``recurrence_end`` or the rule's COUNT/UNTIL,
task deleted, or no ``due_date``); ``failed`` unknown ``recurrence_type``, malformed
``recurrence_rule``, bad interval or unknown zone; ``already_done`` taken by another worker.
Every one of these except ``already_done`` gets ``last_processed_at``, so no task is looked at
every tick. A failure is also recorded as a ``failed`` row in ``reminders_sent`` (kind
``recurring_task``, entity the task, slot its ``due_date``, the reason in ``last_error``) and
logged by id with a reason code; after fixing the task an operator clears its
``last_processed_at`` to have it processed again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Select, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.app import Services
from notifier.db.id_lists import among
from notifier.db.schema import tasks, users, workspaces
from notifier.delivery import ledger
from notifier.delivery.ledger import Outcome, SlotKey
from notifier.rules.kinds import RECURRING_TASK
from notifier.rules.recurrence import BadRecurrenceError, Recurrence, next_due, series_root
from notifier.services.batches import BatchedJob, TickInstant
from notifier.services.counts import TickCounts
from notifier.services.dispatch import database_unavailable
from notifier.services.row_errors import row_error
from notifier.services.task_common import fetch_ids
from notifier.timemath.zones import (
    OutOfCalendarError,
    UnknownZoneError,
    check_in_calendar,
    effective_zone_name,
    get_zone,
)

KIND = RECURRING_TASK.name
MAX_PARENT_HOPS = 10
NO_USER = uuid.UUID(int=0)
COPIED = (
    "workspace_id",
    "user_id",
    "title",
    "description",
    "priority",
    "tags",
    "is_recurring",
    "recurrence_type",
    "recurrence_interval",
    "recurrence_rule",
    "recurrence_end",
)
log = structlog.get_logger("notifier.recurring_tasks")


@dataclass(frozen=True)
class Decision:
    """What to do with one completed task: ``create`` (at ``due``), ``skipped`` or ``failed``."""

    source: Any
    status: str
    due: datetime | None = None
    root_id: uuid.UUID | None = None
    reason: str | None = None
    code: str | None = None


async def due_ids(services: Services, now: datetime) -> list[uuid.UUID]:
    """The tick's selection half (``services.batches``)."""
    return await fetch_ids(services, candidates())


async def process_batch(
    services: Services, ids: Sequence[uuid.UUID], tick: TickInstant
) -> TickCounts:
    """The sending half, at now on the tick's timeline: these kinds follow the rows' state."""
    return await process(services, ids, tick.current(services.clock))


def _unprocessed() -> list[Any]:
    """The partial index's predicate, spelled as it is there."""
    t = tasks.c
    return [t.is_recurring, t.completed, t.last_processed_at.is_(None)]


def candidates() -> Select[Any]:
    """Ids of completed recurring tasks not yet processed, oldest completion first."""
    return select(tasks.c.id).where(*_unprocessed()).order_by(tasks.c.completed_at)


def locked_rows(ids: Sequence[uuid.UUID], dialect_name: str) -> Select[Any]:
    """The batch's still-unprocessed rows, locked; rows another worker holds are skipped."""
    t = tasks.c
    return (
        select(
            *t,
            users.c.timezone.label("user_zone"),
            workspaces.c.timezone.label("workspace_zone"),
        )
        .select_from(tasks)
        .outerjoin(users, users.c.id == t.user_id)
        .outerjoin(workspaces, workspaces.c.id == users.c.workspace_id)
        .where(among(t.id, ids, dialect_name), *_unprocessed())
        .with_for_update(skip_locked=True, of=tasks)
    )


async def series_starts(conn: AsyncConnection, rows: Sequence[Any]) -> dict[uuid.UUID, Any]:
    """Every task on the ``parent_task_id`` paths of ``rows``: id → (parent, due_date)."""
    known: dict[uuid.UUID, Any] = {r["id"]: (r["parent_task_id"], r["due_date"]) for r in rows}
    asked: set[uuid.UUID] = set()
    for _ in range(MAX_PARENT_HOPS):
        wanted = {p for p, _ in known.values() if p is not None} - known.keys() - asked
        if not wanted:
            break
        asked |= wanted
        t = tasks.c
        stmt = select(t.id, t.parent_task_id, t.due_date).where(
            among(t.id, list(wanted), conn.dialect.name)
        )
        for row in (await conn.execute(stmt)).mappings():
            known[row["id"]] = (row["parent_task_id"], row["due_date"])
    return known


def decide(row: Any, known: dict[uuid.UUID, Any]) -> Decision:
    """The pure decision for one locked row (no I/O; ``known`` from ``series_starts``)."""
    if row["deleted_at"] is not None:
        return Decision(row, "skipped", reason="task is deleted")
    if row["due_date"] is None:
        return Decision(row, "skipped", reason="task has no due_date")
    root_id = series_root(row["id"], {k: v[0] for k, v in known.items()})
    first_due = known.get(root_id, (None, None))[1] or row["due_date"]
    try:
        zone = get_zone(effective_zone_name(row["user_zone"], row["workspace_zone"]))
        check_in_calendar(row["due_date"], zone, "due_date")
        due = next_due(_recurrence(row), first_due=first_due, after=row["due_date"], zone=zone)
    except (BadRecurrenceError, UnknownZoneError, OutOfCalendarError) as exc:
        return Decision(row, "failed", reason=str(exc), code=_failure_code(exc))
    if due is None:
        return Decision(row, "skipped", reason="the series has ended")
    return Decision(row, "create", due=due, root_id=root_id)


def _failure_code(exc: Exception) -> str:
    """The reason code logged with a failed task: the rule's own, or the zone's."""
    if isinstance(exc, BadRecurrenceError):
        return exc.code
    return "unknown_zone" if isinstance(exc, UnknownZoneError) else "out_of_calendar"


def decide_guarded(row: Any, known: dict[uuid.UUID, Any]) -> Decision:
    """``decide``, with any exception of one row's data made that row's ``failed``."""
    try:
        return decide(row, known)
    except Exception as exc:
        return Decision(row, "failed", reason=row_error(exc), code="bad_row")


def _recurrence(row: Any) -> Recurrence:
    return Recurrence(
        type=row["recurrence_type"],
        interval=row["recurrence_interval"],
        rule=row["recurrence_rule"],
        end=row["recurrence_end"],
    )


async def mark_processed(
    conn: AsyncConnection, ids: Sequence[uuid.UUID], stamp: datetime
) -> set[uuid.UUID]:
    """Sets ``last_processed_at`` where still unset; returns the ids this caller now owns."""
    if not ids:
        return set()
    stmt = (
        update(tasks)
        .where(among(tasks.c.id, ids, conn.dialect.name), *_unprocessed())
        .values(last_processed_at=stamp)
        .returning(tasks.c.id)
    )
    return set((await conn.execute(stmt)).scalars())


async def insert_instance(conn: AsyncConnection, decision: Decision) -> uuid.UUID:
    """Copies the source row into a new open task due at ``decision.due``."""
    src = tasks.c
    new_id = uuid.uuid4()
    values = {
        "id": literal(new_id, tasks.c.id.type),
        **{name: src[name] for name in COPIED},
        "parent_task_id": literal(decision.root_id, tasks.c.parent_task_id.type),
        "due_date": literal(decision.due, tasks.c.due_date.type),
        "completed": literal(False),
        "status": literal("open"),
    }
    query = select(*values.values()).where(src.id == decision.source["id"])
    await conn.execute(insert(tasks).from_select(list(values), query))
    return new_id


async def _create(conn: AsyncConnection, decision: Decision) -> Decision:
    """Inserts the instance in a savepoint: a row the host's own constraints refuse (a check,
    a trigger) becomes that task's ``failed`` instead of undoing the whole batch.

    SQLite (embedded mode) runs without the savepoint: there a refusal fails the batch.
    """
    if conn.dialect.name != "postgresql":
        await insert_instance(conn, decision)
        return decision
    try:
        async with conn.begin_nested():
            await insert_instance(conn, decision)
    except Exception as exc:
        if database_unavailable(exc):
            raise
        reason = f"the new instance was refused: {row_error(exc)}"
        return replace(decision, status="failed", reason=reason, code="instance_refused")
    return decision


async def record_failures(
    conn: AsyncConnection, decisions: Sequence[Decision], now: datetime
) -> None:
    """A ``failed`` ledger row per bad task, and a log line with ids and a reason code."""
    outcomes = []
    for d in decisions:
        key = SlotKey(KIND, d.source["id"], d.source["user_id"] or NO_USER, d.source["due_date"])
        outcomes.append(Outcome(key, "failed", d.reason))
        log.warning(
            "recurrence_failed", task_id=str(key.entity_id), user_id=str(key.user_id), code=d.code
        )
    await ledger.record(conn, outcomes, now)


async def process(services: Services, ids: Sequence[uuid.UUID], now: datetime) -> TickCounts:
    """One batch in one transaction: lock, decide, mark processed, insert, record.

    ``now`` is not read: the next date follows the completed task's ``due_date``, and
    ``last_processed_at`` is the wall clock of the processing, also in a replay with ``--at``.
    """
    counts = TickCounts(selected=len(ids))
    async with services.engine.begin() as conn:
        rows = (await conn.execute(locked_rows(ids, conn.dialect.name))).mappings().all()
        known = await series_starts(conn, rows)
        decisions = [decide_guarded(row, known) for row in rows]
        owned = await mark_processed(conn, [r["id"] for r in rows], services.clock())
        mine = [d for d in decisions if d.source["id"] in owned]
        mine = [await _create(conn, d) if d.status == "create" else d for d in mine]
        await record_failures(conn, [d for d in mine if d.status == "failed"], services.clock())
    counts.already_done = len(ids) - len(mine)
    for decision in mine:
        field = "sent" if decision.status == "create" else decision.status
        setattr(counts, field, getattr(counts, field) + 1)
    return counts


JOB = BatchedJob(due_ids, process_batch)
run_tick = JOB.run_tick
