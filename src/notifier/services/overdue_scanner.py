"""``overdue_scanner``: an open task past its ``due_date`` becomes ``overdue``, emailed once.

``status = 'overdue'`` is the durable mark that the task was handled; the slot (task,
``due_date``) in ``reminders_sent`` is what keeps the email single when ticks or workers
overlap. The status is set only once the slot is final (``sent``, ``failed`` or ``skipped``),
in a conditional UPDATE after dispatch, so:

* a crash or a transient SMTP failure leaves the task ``open`` and the next tick finishes it
  (the ledger claim stops a second email);
* a task completed or deleted meanwhile is left alone (the UPDATE re-checks "open");
* a user who may not be emailed gets the status change and a ``skipped`` slot, no email;
* later ticks never select the task again, even after ``cleanup`` removed old ledger rows.

A task re-dated after it became overdue keeps ``status = 'overdue'`` and gets no second
overdue email unless the host sets its status back to ``open``; then its new ``due_date`` is a
new slot.

Candidates come from the partial index ``ix_tasks_open_not_overdue_due_date`` (open tasks not
yet marked overdue, by ``due_date``; migration 0003): the scan grows with the tasks newly past
due, not with the open tasks already marked nor with the table.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, update

from notifier.app import Services
from notifier.db.id_lists import among
from notifier.db.inline_constants import inline
from notifier.db.schema import tasks
from notifier.db.types import UtcDateTime, held_instant
from notifier.delivery.ledger import SlotKey
from notifier.delivery.slot_filters import slot_finished
from notifier.rules.kinds import BY_NAME
from notifier.services.batches import TickInstant
from notifier.services.channel_choice import Addressees, new_plan
from notifier.services.counts import TickCounts
from notifier.services.dispatch import dispatch
from notifier.services.plan import plan_each
from notifier.services.task_common import (
    fetch_batch,
    join_recipient,
    open_task,
    plan_row,
    recipient_columns,
    state_following,
    task_columns,
)

KIND = BY_NAME["task_overdue"]
OVERDUE = "overdue"


def _newly_overdue(now: datetime) -> list[Any]:
    t = tasks.c
    # ``'overdue'`` inline: the partial index's predicate (``db.inline_constants``).
    return [open_task(), t.due_date < now, t.status != inline(OVERDUE)]


def candidates(now: datetime) -> Select[Any]:
    """Ids of open tasks past due whose status is not yet ``overdue``."""
    t = tasks.c
    return select(t.id).where(*_newly_overdue(now)).order_by(t.due_date)


def fresh_rows(ids: Sequence[uuid.UUID], now: datetime, dialect_name: str) -> Select[Any]:
    """The current state of the given tasks, with their recipients, if still to be handled."""
    t = tasks.c
    stmt = (
        select(*task_columns(), t.user_id, *recipient_columns())
        .select_from(tasks)
        .where(among(t.id, ids, dialect_name), *_newly_overdue(now))
    )
    return join_recipient(stmt, t.user_id)


async def mark_overdue(services: Services, ids: Sequence[uuid.UUID], now: datetime) -> None:
    """Sets ``overdue`` on the tasks of this batch whose slot is final and that are still open."""
    t = tasks.c
    stmt = (
        update(tasks)
        .where(
            among(t.id, ids, services.engine.dialect.name),
            *_newly_overdue(now),
            # The due date as the fresh rows read it (``db.types``): a sentinel date's slot
            # was recorded as the calendar's edge.
            slot_finished(KIND.name, t.id, t.user_id, held_instant(t.due_date, UtcDateTime())),
        )
        .values(status=OVERDUE)
    )
    async with services.engine.begin() as conn:
        await conn.execute(stmt)


async def process(services: Services, ids: Sequence[uuid.UUID], tick: TickInstant) -> TickCounts:
    """Plans and dispatches one batch, then marks what is finished ``overdue``."""
    now = tick.current(services.clock)
    catch_up = timedelta(minutes=services.settings.catch_up_minutes)
    plan = new_plan(services)
    stmt = fresh_rows(ids, now, services.engine.dialect.name)
    rows, preferences = await fetch_batch(services, stmt, KIND.name)
    recipients = Addressees(services, KIND.name, preferences)

    def plan_one(row: Any) -> None:
        key = SlotKey(KIND.name, row["task_id"], row["user_id"], row["due_date"])
        who = recipients.of(row, row["user_id"])
        base_url = services.settings.app_base_url
        expires_at = now + catch_up
        plan_row(plan, row, KIND, key, who, now=now, base_url=base_url, expires_at=expires_at)

    plan_each(rows, plan_one, lambda row: row["task_id"])
    counts = await dispatch(services, plan.deliveries, plan.outcomes, now=now)
    await mark_overdue(services, ids, now)
    return counts


JOB = state_following(candidates, process)
run_tick = JOB.run_tick
