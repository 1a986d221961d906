"""The template context of a ``daily_digest``: the day's appointments, then its tasks.

Contract section 3: the appointments that start on the user's local date, in time order;
below them the open tasks due that date and the number of overdue tasks (the daily task
summary). Lists are capped by the kind (``Kind.list_cap``) and say how many more there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from notifier.content.decoding import Decoder
from notifier.content.local_day import day_context, plural
from notifier.content.summary import AppointmentLine, TaskLine, appointment_entry, task_list
from notifier.timemath.zones import in_zone


@dataclass(frozen=True)
class DayTasks:
    """The day's open tasks (the first of them, and how many in all) and the overdue count."""

    due: Sequence[TaskLine] = ()
    due_total: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class DigestFacts:
    """What one user's digest lists."""

    appointments: Sequence[AppointmentLine]
    appointments_total: int | None = None  # None: all are listed
    tasks: DayTasks = field(default_factory=DayTasks)

    def decoded(self, decoder: Decoder) -> DigestFacts:
        """The lists with the host's encrypted values decoded (``CONTENT_DECODER``)."""
        tasks = replace(self.tasks, due=decoder.task_lines(self.tasks.due))
        return replace(self, appointments=decoder.appointment_lines(self.appointments), tasks=tasks)


def _time(item: AppointmentLine, zone: ZoneInfo, day_abbreviation: str) -> str:
    local = in_zone(item.starts_at, zone)
    abbreviation = local.tzname() or ""
    # On a DST day two rows can show the same wall time; the abbreviation tells them apart.
    suffix = f" {abbreviation}" if abbreviation != day_abbreviation else ""
    return f"{local:%H:%M}{suffix}"


def digest_context(
    *,
    user_name: str | None,
    day: date,
    due: datetime,
    zone: ZoneInfo,
    facts: DigestFacts,
    base_url: str,
) -> dict[str, object]:
    """Everything the ``daily_digest`` templates use."""
    base = base_url.rstrip("/")
    ordered = sorted(facts.appointments, key=lambda a: (a.starts_at, a.appointment_id))
    total = len(ordered) if facts.appointments_total is None else facts.appointments_total
    day_abbreviation = in_zone(due, zone).tzname() or ""
    tasks = facts.tasks
    return {
        **day_context(day, due, zone, base),
        "user_name": user_name or "there",
        "appointments": [
            appointment_entry(a, _time(a, zone, day_abbreviation), base) for a in ordered
        ],
        "more_appointments": max(total - len(ordered), 0),
        "count_phrase": plural(total, "appointment", "appointments")
        if total
        else "no appointments",
        "calendar_url": f"{base}/calendar?date={day.isoformat()}",
        "tasks_due": task_list(tasks.due, tasks.due_total, zone, due, base),
        "overdue_count": tasks.overdue,
        "overdue_phrase": plural(tasks.overdue, "overdue task", "overdue tasks"),
        "tasks_url": f"{base}/tasks",
    }
