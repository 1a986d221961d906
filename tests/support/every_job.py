"""One user made due in every email job at one instant, and the jobs run as operators run them.

The bad-row tests seed a control user beside each bad row: whatever the bad row does, the
control must get exactly one email of every kind in the same ticks.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select, text

from notifier.app import Services
from notifier.db.schema import job_runs
from notifier.jobs.runs import run_recorded
from notifier.rules.kinds import JOB_KINDS
from tests.support.local_time_data import LocalTimeData
from tests.support.smtp import Captured
from tests.support.task_data import TaskData

# Every job that emails, with the kind it sends: every kind declared (a new kind's job is
# in every bad-row test at once).
EMAIL_JOBS = {job: kind for job, kind in JOB_KINDS.items() if kind is not None}
ALL_JOBS = (*EMAIL_JOBS, "recurring_tasks", "cleanup")


class SeedData(TaskData, LocalTimeData):
    """Both helpers' rows in one place."""


@dataclass(frozen=True)
class DueEverywhere:
    """The rows that make one user due in every email job at ``now``."""

    user_id: uuid.UUID
    task_id: uuid.UUID  # due within the day: task_due and the task reminder's task
    overdue_task_id: uuid.UUID
    reminder_id: uuid.UUID


async def due_everywhere(
    data: SeedData, now: datetime, email: str | None, timezone: str | None = "UTC"
) -> DueEverywhere:
    """A user whose digest, weekly report and notes reminder fall due at ``now`` (a whole
    minute, in ``timezone`` when it is UTC) and who has something due in every other job."""
    at = now.time().replace(second=0, microsecond=0) if timezone == "UTC" else time(7)
    settings = {
        "digest_enabled": True,
        "digest_time": at,
        "notes_reminder_enabled": True,
        "notes_reminder_time": at,
        "weekly_report_enabled": True,
        "weekly_report_day": now.isoweekday(),
        "weekly_report_time": at,
    }
    user = await data.user(email=email, timezone=timezone, settings=settings)
    await data.appointment(user, now + timedelta(minutes=60))
    await data.session(user)
    task = await data.task(user, now + timedelta(hours=3))
    overdue = await data.task(user, now - timedelta(hours=1))
    reminder = await data.reminder(task, user, now - timedelta(minutes=1))
    return DueEverywhere(user, task, overdue, reminder)


async def run_job(services: Services, job: str, now: datetime) -> dict[str, int]:
    """One recorded tick, as ``notifier run`` runs it; raises if the tick failed."""
    return (await run_recorded(services, job, now)).as_dict()


async def run_statuses(services: Services) -> Counter[str]:
    """How many ticks ``job_runs`` recorded, by status."""
    async with services.engine.connect() as conn:
        rows = (await conn.execute(select(job_runs.c.status))).scalars().all()
    return Counter(rows)


def kinds_to(messages: list[Captured], address: str) -> Counter[str]:
    """The kinds of the messages addressed to ``address``."""
    return Counter(m.kind for m in messages if m.rcpt_tos == [address])


async def set_raw(
    services: Services, table: str, row_id: uuid.UUID, column: str, value: str | None, pg_type: str
) -> None:
    """Writes ``value`` as text that PostgreSQL casts itself (``-infinity``, BC dates,
    ``24:00``): what a host can store, beyond what Python's types can say."""
    sql = f"UPDATE {table} SET {column} = CAST(CAST(:value AS text) AS {pg_type}) WHERE id = :id"
    async with services.engine.begin() as conn:
        await conn.execute(text(sql), {"value": value, "id": row_id})
