"""``weekly_report``: on the user's chosen local weekday and time, their week.

Selection, fresh-row checks and the slot rules are the local-time kinds' own
(``services.local_time``): the report is due on local dates whose ISO weekday is
``weekly_report_day``, at ``weekly_report_time`` resolved as the digest's time, one per local
date. This module reads the content (``services.summaries``), four queries a batch, just
before sending:

* the tasks completed in the 7 local dates before the report's date;
* the open tasks due from the report's due instant to the end of the 6th local date after it
  (a task due earlier that day is overdue by then, and listed there);
* the overdue tasks: open, due before the report's due instant;
* the scheduled appointments of the report's date and the 6 after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.content.weekly_report import WeekFacts, weekly_context
from notifier.db.schema import WEEKLY_DUE_COLUMNS, local_time_schedules, notification_settings
from notifier.rules.kinds import BY_NAME
from notifier.rules.local_time_slots import one_weekday
from notifier.rules.summary_spans import spans
from notifier.services.local_time import DueUser, LocalTimeKind, TickContext, one_slot_per_user
from notifier.services.next_send import CopySchedule
from notifier.services.plan import Plan
from notifier.services.summaries import (
    COMPLETED_TASKS,
    OPEN_TASKS_BY_DUE_DATE,
    appointment_lists,
    task_lists,
)
from notifier.services.user_lists import Span

KIND = BY_NAME["weekly_report"]


async def read_facts(conn: AsyncConnection, due: Sequence[DueUser]) -> dict[DueUser, WeekFacts]:
    """Each due user's week, four queries per round of distinct users."""
    found: dict[DueUser, WeekFacts] = {}
    for items in one_slot_per_user(due):
        found.update(await _read_round(conn, items))
    return found


async def _read_round(conn: AsyncConnection, items: Sequence[DueUser]) -> dict[DueUser, WeekFacts]:
    cap = KIND.list_cap
    covered = {i.key.user_id: (i, spans(i.slot.day, i.slot.due, i.zone)) for i in items}
    ahead = {u: Span(s.due, s.week_ahead[1], i.workspace_id) for u, (i, s) in covered.items()}
    late = {u: Span(None, s.due, i.workspace_id) for u, (i, s) in covered.items()}
    before = {u: Span(*s.week_before, i.workspace_id) for u, (i, s) in covered.items()}
    week = {u: Span(*s.week_ahead, i.workspace_id) for u, (i, s) in covered.items()}
    appointments = await appointment_lists(conn, week, cap)
    due_tasks = await task_lists(conn, OPEN_TASKS_BY_DUE_DATE, ahead, cap)
    overdue = await task_lists(conn, OPEN_TASKS_BY_DUE_DATE, late, cap)
    completed = await task_lists(conn, COMPLETED_TASKS, before, cap)
    return {
        item: WeekFacts(*appointments[u], *due_tasks[u], *overdue[u], *completed[u])
        for u, (item, _) in covered.items()
    }


async def prepare(
    conn: AsyncConnection, due: Sequence[DueUser], ctx: TickContext, plan: Plan
) -> None:
    """One delivery per due user, sent also when every list is empty."""
    ctx.offer_summaries(plan, due, KIND, await read_facts(conn, due), weekly_context)


_COPY = local_time_schedules.c

WEEKLY = LocalTimeKind(
    copy=CopySchedule(
        kind=KIND.name,
        next=_COPY.weekly_report_next,
        time=_COPY.weekly_report_time,
        day_columns=(_COPY.weekly_report_day,),
        days=one_weekday,
        due_columns=WEEKLY_DUE_COLUMNS,
    ),
    schedule_days="s.weekly_report_day = {isodow}",
    settings_enabled=notification_settings.c.weekly_report_enabled,
    settings_time=notification_settings.c.weekly_report_time,
    settings_days=(func.coalesce(notification_settings.c.weekly_report_day, 1),),
    days_of=one_weekday,
    default_time=time(8, 0),
    prepare=prepare,
)

JOB = WEEKLY.job()
run_tick = JOB.run_tick
