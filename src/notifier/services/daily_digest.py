"""``daily_digest``: each user's day at ``digest_time``: appointments, then the day's tasks.

Selection, fresh-row checks and the slot rules are shared with the other local-time kinds in
``services.local_time`` (its docstring explains the indexed selection). This module adds the
content: the appointments that start within the user's local date, the open tasks due that
date and the number of overdue tasks (``services.summaries``), read in one query each per
batch just before sending, so a cancellation or a completion up to that moment is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.content.daily_digest import DayTasks, DigestFacts, digest_context
from notifier.db.schema import DIGEST_DUE_COLUMNS, local_time_schedules, notification_settings
from notifier.rules.kinds import BY_NAME
from notifier.rules.local_time_slots import copy_digest_weekdays, digest_weekdays
from notifier.rules.summary_spans import spans
from notifier.services.local_time import DueUser, LocalTimeKind, TickContext, one_slot_per_user
from notifier.services.next_send import CopySchedule
from notifier.services.plan import Plan
from notifier.services.summaries import (
    OPEN_TASKS_BY_DUE_DATE,
    appointment_lists,
    overdue_counts,
    task_lists,
)
from notifier.services.user_lists import Span

KIND = BY_NAME["daily_digest"]


async def read_facts(conn: AsyncConnection, due: Sequence[DueUser]) -> dict[DueUser, DigestFacts]:
    """Each due user's appointments and tasks of their local date, three queries a batch."""
    found: dict[DueUser, DigestFacts] = {}
    for items in one_slot_per_user(due):
        found.update(await _read_round(conn, items))
    return found


async def _read_round(
    conn: AsyncConnection, items: Sequence[DueUser]
) -> dict[DueUser, DigestFacts]:
    covered = {
        item.key.user_id: (item, spans(item.slot.day, item.slot.due, item.zone)) for item in items
    }
    day = {uid: Span(*s.day, item.workspace_id) for uid, (item, s) in covered.items()}
    overdue = {uid: Span(None, s.due, item.workspace_id) for uid, (item, s) in covered.items()}
    appointments = await appointment_lists(conn, day, KIND.list_cap)
    tasks = await task_lists(conn, OPEN_TASKS_BY_DUE_DATE, day, KIND.list_cap)
    late = await overdue_counts(conn, overdue)
    return {
        item: DigestFacts(
            appointments=appointments[uid][0],
            appointments_total=appointments[uid][1],
            tasks=DayTasks(tasks[uid][0], tasks[uid][1], late[uid]),
        )
        for uid, (item, _) in covered.items()
    }


async def prepare(
    conn: AsyncConnection, due: Sequence[DueUser], ctx: TickContext, plan: Plan
) -> None:
    """One delivery per due user, listing that user's day."""
    ctx.offer_summaries(plan, due, KIND, await read_facts(conn, due), digest_context)


_COPY = local_time_schedules.c

DIGEST = LocalTimeKind(
    copy=CopySchedule(
        kind=KIND.name,
        next=_COPY.digest_next,
        time=_COPY.digest_time,
        day_columns=(_COPY.digest_skip_weekends, _COPY.digest_days_set),
        days=copy_digest_weekdays,
        due_columns=DIGEST_DUE_COLUMNS,
    ),
    schedule_days="(s.digest_days_set OR NOT ({isodow} >= 6 AND s.digest_skip_weekends))",
    settings_enabled=notification_settings.c.digest_enabled,
    settings_time=notification_settings.c.digest_time,
    settings_days=(
        func.coalesce(notification_settings.c.digest_skip_weekends, False),
        notification_settings.c.digest_days,
    ),
    days_of=digest_weekdays,
    default_time=time(7, 0),
    prepare=prepare,
)

JOB = DIGEST.job()
run_tick = JOB.run_tick
