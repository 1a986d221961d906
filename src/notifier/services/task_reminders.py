"""``task_reminder``: each ``task_reminders`` row due and unsent, emailed once; sets ``sent``.

Rules (contract sections 3 and 4):

* A row is due when ``sent = false`` and ``remind_at <= now``; it is sent however late, up to
  24 hours after ``remind_at`` (exactly 24 hours still sends). Later ones are recorded
  ``skipped`` and keep ``sent = false``: nothing was sent.
* A row whose task is completed, deleted or gone is left unsent and recorded ``skipped``.
* ``sent = true`` and ``sent_at`` are written by ``Delivery.after_sent``, in the transaction that
  marks the slot ``sent``: the two land together or not at all.
* Only ``channel = 'email'`` rows are ours; other channels are left for whoever serves them.

Cost: candidates come from the partial index ``ix_task_reminders_unsent_remind_at`` (unsent rows
by ``remind_at``). Rows left unsent on purpose (skipped) stay in that index for ever, so the
scan is bounded below: it reaches back 24 hours for sending plus ``TASK_REMINDER_LATE_RECORD`` (7
days) for recording late rows as skipped, and drops slots already finished. A row that became
more than 8 days late without any tick seeing it (the job off for over a week, or a host
inserting a reminder dated long ago) is never emailed, as the contract wants, but also gets no
``skipped`` row: that is the price of a tick that does not grow with history.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.app import Clock, Services
from notifier.db.id_lists import among
from notifier.db.schema import task_reminders, tasks
from notifier.delivery.ledger import SlotKey
from notifier.delivery.slot_filters import slot_unfinished
from notifier.rules.kinds import (
    BY_NAME,
    TASK_REMINDER_LATE_RECORD,
    TASK_REMINDER_LATENESS,
)
from notifier.services.batches import TickInstant
from notifier.services.channel_choice import new_plan, own_channel_addressee
from notifier.services.counts import TickCounts
from notifier.services.dispatch import WINDOW_PASSED, dispatch
from notifier.services.plan import plan_each
from notifier.services.task_common import (
    AfterSent,
    fetch_rows,
    join_recipient,
    plan_row,
    recipient_columns,
    state_following,
    task_columns,
)
from notifier.timemath.zones import shifted

KIND = BY_NAME["task_reminder"]


def candidates(now: datetime) -> Select[Any]:
    """Ids of unsent reminders due by ``now`` (within the horizon) and not finished, on any
    channel (each row goes to its own)."""
    r = task_reminders.c
    return (
        select(r.id)
        .where(
            r.sent == False,  # noqa: E712  (the partial index's predicate, spelled alike)
            r.remind_at <= now,
            r.remind_at > now - TASK_REMINDER_LATENESS - TASK_REMINDER_LATE_RECORD,
            slot_unfinished(KIND.name, r.id, r.user_id, r.remind_at),
        )
        .order_by(r.remind_at)
    )


def fresh_rows(ids: Sequence[uuid.UUID], dialect_name: str) -> Select[Any]:
    """The given rows if still unsent, with their task (if any) and recipient."""
    r = task_reminders.c
    stmt = (
        select(
            r.id.label("reminder_id"),
            r.user_id,
            r.channel,
            r.remind_at,
            *task_columns(),
            *recipient_columns(),
        )
        .select_from(task_reminders)
        .outerjoin(tasks, tasks.c.id == r.task_id)
        .where(among(r.id, ids, dialect_name), r.sent == False)  # noqa: E712
    )
    return join_recipient(stmt, r.user_id)


def not_sendable(row: Any, now: datetime) -> str | None:
    """Why this reminder row is recorded skipped instead of sent, or None."""
    if row["task_id"] is None or row["completed"] or row["deleted_at"] is not None:
        return "task is completed or deleted"
    if now - row["remind_at"] > TASK_REMINDER_LATENESS:
        return f"more than 24 hours late; {WINDOW_PASSED}"
    return None


def mark_sent(reminder_id: uuid.UUID, clock: Clock) -> AfterSent:
    """The callback that sets ``sent`` and ``sent_at`` with the slot's ``sent`` mark."""

    async def after_sent(conn: AsyncConnection) -> None:
        await conn.execute(
            update(task_reminders)
            .where(task_reminders.c.id == reminder_id)
            .values(sent=True, sent_at=clock())
        )

    return after_sent


async def process(services: Services, ids: Sequence[uuid.UUID], tick: TickInstant) -> TickCounts:
    """Plans and dispatches one batch of reminder rows.

    The 24 hours are counted to the tick's instant, like the other kinds' windows: a row
    exactly 24 hours late at the tick is sent, however long its batch waited.
    """
    now = tick.current(services.clock)
    plan = new_plan(services)

    def plan_one(row: Any) -> None:
        who = own_channel_addressee(row, row["channel"])
        key = SlotKey(KIND.name, row["reminder_id"], row["user_id"], row["remind_at"])
        reason = not_sendable(row, tick.instant)
        if reason:
            plan.skip(key.on(who.channels[0]), reason)
            return
        plan_row(
            plan,
            row,
            KIND,
            key,
            who,
            now=now,
            base_url=services.settings.app_base_url,
            expires_at=shifted(row["remind_at"], TASK_REMINDER_LATENESS),
            after_sent=mark_sent(row["reminder_id"], services.clock),
            due_at=row["remind_at"],
            slot_column="remind_at",
        )

    rows = await fetch_rows(services, fresh_rows(ids, services.engine.dialect.name))
    plan_each(rows, plan_one, lambda row: row["reminder_id"])
    return await dispatch(services, plan.deliveries, plan.outcomes, now=now)


JOB = state_following(candidates, process)
run_tick = JOB.run_tick
