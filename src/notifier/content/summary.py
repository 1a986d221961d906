"""Lines of the summary emails (digest, weekly report): appointments and tasks, as they read.

Values stay raw here (the HTML templates escape them). A list is capped by its kind
(``Kind.list_cap``) and says how many more there are, with a link to see them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from notifier.content.formatting import DAY_NAMES, MONTH_NAMES
from notifier.content.local_day import amount
from notifier.timemath.zones import in_zone


@dataclass(frozen=True)
class AppointmentLine:
    """One scheduled appointment of a list."""

    appointment_id: str
    starts_at: datetime
    client_name: str | None
    service_name: str | None
    location: str | None


@dataclass(frozen=True)
class TaskLine:
    """One task of a list."""

    task_id: str
    title: str | None
    priority: str | None
    due_date: datetime | None


def day_and_time(instant: datetime, zone: ZoneInfo) -> str:
    """``Tue 10 Mar 14:30``: a row of a week's list."""
    local = in_zone(instant, zone)
    day, month = DAY_NAMES[local.weekday()][:3], MONTH_NAMES[local.month - 1][:3]
    return f"{day} {local.day} {month} {local.hour:02d}:{local.minute:02d}"


def appointment_entry(line: AppointmentLine, when: str, base: str) -> dict[str, object]:
    """An appointment as the templates show it; ``when`` is written by the caller."""
    return {
        "time": when,
        "client_name": line.client_name or "No client named",
        "service_name": line.service_name,
        "location": line.location,
        "url": f"{base}/appointments/{line.appointment_id}",
    }


def task_entry(
    line: TaskLine, zone: ZoneInfo, now: datetime | None, base: str
) -> dict[str, object]:
    """A task: its title, due date in the user's zone, priority, and whether it is past due
    at ``now`` (None: a list of completed tasks, never past due)."""
    due = line.due_date
    return {
        "title": line.title or "Untitled task",
        "due": day_and_time(due, zone) if due is not None else None,
        "priority": line.priority,
        "past_due": now is not None and due is not None and due < now,
        "url": f"{base}/tasks/{line.task_id}",
    }


def task_list(
    lines: Sequence[TaskLine], total: int, zone: ZoneInfo, now: datetime | None, base: str
) -> dict[str, object]:
    """A capped task list: its entries, how many more there are, and a phrase for the count."""
    return {
        "entries": [task_entry(line, zone, now, base) for line in lines],
        "more": max(total - len(lines), 0),
        "total": total,
        "phrase": amount(total, "task", "tasks"),
    }
