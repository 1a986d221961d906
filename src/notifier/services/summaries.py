"""What the summary emails list about a user's tasks and appointments, read for a batch.

The daily digest (contract section 3: the day's appointments, then the open tasks due that
local date and the number of overdue tasks) and the weekly report (tasks completed in the 7
local days before, open tasks due in the 7 local days ahead, overdue tasks, the appointments
of the 7 local days ahead) read their lists here, each user with spans of their own local
dates (``rules.summary_spans``). "Overdue" is the task kinds' rule: open, due before the
instant the email is due.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.content.summary import AppointmentLine, TaskLine
from notifier.db.schema import appointments, clients, tasks
from notifier.services.task_common import open_task
from notifier.services.user_lists import Capped, ListQuery, Span, capped_lists, counts

t, a = tasks.c, appointments.c

OPEN_TASKS_BY_DUE_DATE = ListQuery(
    source=tasks,
    user_column=t.user_id,
    at_column=t.due_date,
    columns=(t.id, t.title, t.priority, t.due_date),
    where=(open_task(), t.due_date.is_not(None)),
    tie_break=t.id,
    workspace_column=t.workspace_id,
)
COMPLETED_TASKS = ListQuery(
    source=tasks,
    user_column=t.user_id,
    at_column=t.completed_at,
    columns=(t.id, t.title, t.priority, t.due_date),
    where=(t.completed == True, t.deleted_at.is_(None), t.completed_at.is_not(None)),  # noqa: E712
    tie_break=t.id,
    workspace_column=t.workspace_id,
)
SCHEDULED_APPOINTMENTS = ListQuery(
    source=appointments.outerjoin(clients, clients.c.id == a.client_id),
    user_column=a.user_id,
    at_column=a.starts_at,
    columns=(
        a.id,
        a.workspace_id,
        a.starts_at,
        a.service_name,
        a.location,
        clients.c.full_name.label("client_name"),
    ),
    where=(a.status == "scheduled",),
    tie_break=a.id,
    workspace_column=a.workspace_id,
)


def task_line(row: Mapping[str, Any]) -> TaskLine:
    return TaskLine(str(row["id"]), row["title"], row["priority"], row["due_date"])


def appointment_line(row: Mapping[str, Any]) -> AppointmentLine:
    return AppointmentLine(
        str(row["id"]), row["starts_at"], row["client_name"], row["service_name"], row["location"]
    )


async def task_lists(
    conn: AsyncConnection, query: ListQuery, spans: Mapping[uuid.UUID, Span], cap: int
) -> dict[uuid.UUID, tuple[list[TaskLine], int]]:
    """Each user's tasks of ``query`` in their span: the first ``cap`` and the total."""
    found = await capped_lists(conn, query, spans, cap)
    return {user_id: _tasks(found[user_id]) for user_id in spans}


def _tasks(capped: Capped) -> tuple[list[TaskLine], int]:
    return [task_line(row) for row in capped.rows], capped.total


async def appointment_lists(
    conn: AsyncConnection, spans: Mapping[uuid.UUID, Span], cap: int
) -> dict[uuid.UUID, tuple[list[AppointmentLine], int]]:
    """Each user's scheduled appointments in their span: the first ``cap`` and the total."""
    found = await capped_lists(conn, SCHEDULED_APPOINTMENTS, spans, cap)
    return {
        user_id: ([appointment_line(r) for r in found[user_id].rows], found[user_id].total)
        for user_id in spans
    }


async def overdue_counts(
    conn: AsyncConnection, spans: Mapping[uuid.UUID, Span]
) -> dict[uuid.UUID, int]:
    """How many open tasks each user has due before their span's end."""
    return await counts(conn, OPEN_TASKS_BY_DUE_DATE, spans)
