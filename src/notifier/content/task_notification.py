"""The template context shared by ``task_due``, ``task_reminder`` and ``task_overdue``.

The three kinds say the same things (which task, when it is due in the user's zone, a link to
it) and differ only in wording, so one builder feeds all three template folders and the shared
``templates/_task_details.*`` partials. Values stay raw here: the HTML templates escape them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from notifier.content.formatting import duration_phrase, long_local, short_local, zone_label


@dataclass(frozen=True)
class TaskFacts:
    """The task's values an email shows."""

    task_id: str
    title: str | None
    description: str | None
    priority: str | None
    due_date: datetime | None
    user_name: str | None


def relative_phrase(due: datetime, now: datetime) -> str:
    """``in 3 hours`` before the due instant, ``2 hours ago`` after it."""
    if due >= now:
        return duration_phrase(due - now)
    return duration_phrase(now - due).removeprefix("in ") + " ago"


def task_context(
    facts: TaskFacts, zone: ZoneInfo, now: datetime, base_url: str
) -> dict[str, object]:
    """Everything the task templates use; due fields are None for a task without a due date."""
    base = base_url.rstrip("/")
    due = facts.due_date
    return {
        "user_name": facts.user_name or "there",
        "task_title": facts.title or "Untitled task",
        "description": facts.description,
        "priority": facts.priority,
        "due_local_long": long_local(due, zone) if due else None,
        "due_local_short": short_local(due, zone) if due else None,
        "zone_label": zone_label(due or now, zone),
        "due_phrase": relative_phrase(due, now) if due else None,
        "task_url": f"{base}/tasks/{facts.task_id}",
        "settings_url": f"{base}/settings/notifications",
    }
