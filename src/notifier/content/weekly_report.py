"""The template context of a ``weekly_report``: the week ahead and the week behind.

Contract section 3: the tasks completed in the 7 local days before, the open tasks due in the
7 local days ahead, the overdue tasks, and the appointments of the 7 local days ahead; sent
also when all are empty. Each list is capped by the kind (``Kind.list_cap``) and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from notifier.content.decoding import Decoder
from notifier.content.local_day import amount, day_context, long_date
from notifier.content.summary import (
    AppointmentLine,
    TaskLine,
    appointment_entry,
    day_and_time,
    task_list,
)

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class WeekFacts:
    """What one user's report lists."""

    appointments: Sequence[AppointmentLine] = ()
    appointments_total: int = 0
    due: Sequence[TaskLine] = ()
    due_total: int = 0
    overdue: Sequence[TaskLine] = ()
    overdue_total: int = 0
    completed: Sequence[TaskLine] = ()
    completed_total: int = 0

    def decoded(self, decoder: Decoder) -> WeekFacts:
        """The lists with the host's encrypted values decoded (``CONTENT_DECODER``)."""
        return replace(
            self,
            appointments=decoder.appointment_lines(self.appointments),
            due=decoder.task_lines(self.due),
            overdue=decoder.task_lines(self.overdue),
            completed=decoder.task_lines(self.completed),
        )


def _appointments(facts: WeekFacts, zone: ZoneInfo, base: str) -> dict[str, object]:
    items = [
        appointment_entry(a, day_and_time(a.starts_at, zone), base) for a in facts.appointments
    ]
    total = facts.appointments_total
    return {
        "entries": items,
        "more": max(total - len(items), 0),
        "total": total,
        "phrase": amount(total, "appointment", "appointments"),
    }


def headline(facts: WeekFacts) -> str:
    """``3 appointments, 5 tasks due, 2 overdue``: the subject's summary."""
    parts = [
        amount(facts.appointments_total, "appointment", "appointments"),
        amount(facts.due_total, "task due", "tasks due"),
    ]
    if facts.overdue_total:
        parts.append(f"{facts.overdue_total} overdue")
    return ", ".join(parts)


def weekly_context(
    *,
    user_name: str | None,
    day: date,
    due: datetime,
    zone: ZoneInfo,
    facts: WeekFacts,
    base_url: str,
) -> dict[str, object]:
    """Everything the ``weekly_report`` templates use."""
    base = base_url.rstrip("/")
    last = day + WEEK - timedelta(days=1)
    return {
        **day_context(day, due, zone, base),
        "user_name": user_name or "there",
        "week_label": f"{long_date(day)} to {long_date(last)}",
        "headline": headline(facts),
        "appointments": _appointments(facts, zone, base),
        "tasks_due": task_list(facts.due, facts.due_total, zone, due, base),
        "overdue": task_list(facts.overdue, facts.overdue_total, zone, due, base),
        "completed": task_list(facts.completed, facts.completed_total, zone, None, base),
        "calendar_url": f"{base}/calendar?date={day.isoformat()}&view=week",
        "tasks_url": f"{base}/tasks",
    }
