"""``task_due``: one email for each open task whose ``due_date`` lies within the next 24 hours.

The slot is (task, ``due_date``), so a task moved to another due date is a new slot and is
emailed again for its new date, while ticks repeated for one date send once. The kind follows
the state of the task, not a catch-up window: whatever tick first sees the task inside
``(now, now + 24 h]`` sends it; a task whose due date passed unseen is the overdue scanner's.

Candidates come from the partial index ``ix_tasks_open_due_date`` (open tasks by
``due_date``) over that 24-hour range, minus slots already finished in ``reminders_sent``, so
a tick costs the next day's due tasks, not the table. Rows are re-read per batch just before
sending, so a completion or a disabled setting that lands mid-tick still takes effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select

from notifier.app import Services
from notifier.db.id_lists import among
from notifier.db.schema import tasks
from notifier.delivery.ledger import SlotKey
from notifier.delivery.slot_filters import slot_unfinished
from notifier.rules.kinds import BY_NAME, TASK_DUE_LEAD
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

KIND = BY_NAME["task_due"]


def _due_soon(now: datetime) -> list[Any]:
    t = tasks.c
    return [open_task(), t.due_date > now, t.due_date <= now + TASK_DUE_LEAD]


def candidates(now: datetime) -> Select[Any]:
    """Ids of open tasks due in ``(now, now + 24 h]`` whose slot is not finished."""
    t = tasks.c
    return (
        select(t.id)
        .where(*_due_soon(now), slot_unfinished(KIND.name, t.id, t.user_id, t.due_date))
        .order_by(t.due_date)
    )


def fresh_rows(ids: Sequence[uuid.UUID], now: datetime, dialect_name: str) -> Select[Any]:
    """The current state of the given tasks, with their recipients, if still due soon."""
    t = tasks.c
    stmt = (
        select(*task_columns(), t.user_id, *recipient_columns())
        .select_from(tasks)
        .where(among(t.id, ids, dialect_name), *_due_soon(now))
    )
    return join_recipient(stmt, t.user_id)


async def process(services: Services, ids: Sequence[uuid.UUID], tick: TickInstant) -> TickCounts:
    """Plans and dispatches one batch of candidate tasks."""
    now = tick.current(services.clock)
    stmt = fresh_rows(ids, now, services.engine.dialect.name)
    rows, preferences = await fetch_batch(services, stmt, KIND.name)
    recipients = Addressees(services, KIND.name, preferences)
    catch_up = timedelta(minutes=services.settings.catch_up_minutes)
    plan = new_plan(services)

    def plan_one(row: Any) -> None:
        key = SlotKey(KIND.name, row["task_id"], row["user_id"], row["due_date"])
        who = recipients.of(row, row["user_id"])
        expires_at = min(row["due_date"], now + catch_up)
        base_url = services.settings.app_base_url
        # A quiet period that would hold the notice to or past the due date lets it go now.
        deadline = row["due_date"]
        plan_row(
            plan,
            row,
            KIND,
            key,
            who,
            now=now,
            base_url=base_url,
            expires_at=expires_at,
            deadline=deadline,
        )

    plan_each(rows, plan_one, lambda row: row["task_id"])
    return await dispatch(services, plan.deliveries, plan.outcomes, now=now)


JOB = state_following(candidates, process)
run_tick = JOB.run_tick
