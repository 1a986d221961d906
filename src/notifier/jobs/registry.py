"""Job name → the service function that runs one tick of it, and its two halves.

Every sending job splits into ``due_ids`` and ``process_batch`` (``services.batches``), so a
worker can fan a large tick out over arq; ``cleanup`` has no batches and always runs inline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from notifier.app import Services
from notifier.services import (
    appointment_reminders,
    cleanup,
    daily_digest,
    notes_reminders,
    overdue_scanner,
    recurring_tasks,
    task_due_reminders,
    task_reminders,
    weekly_report,
)
from notifier.services.batches import BatchedJob
from notifier.services.counts import TickCounts

TickFunction = Callable[[Services, datetime], Awaitable[TickCounts]]


def batched_jobs() -> dict[str, BatchedJob]:
    """Every sending job (and the recurring-task processor) by its contract name: one shape,
    ``services.batches.BatchedJob``, whose ticks may fan out."""
    return {
        "appointment_reminders": appointment_reminders.JOB,
        "daily_digest": daily_digest.JOB,
        "weekly_report": weekly_report.JOB,
        "notes_reminders": notes_reminders.JOB,
        "task_due_reminders": task_due_reminders.JOB,
        "task_reminders": task_reminders.JOB,
        "overdue_scanner": overdue_scanner.JOB,
        "recurring_tasks": recurring_tasks.JOB,
    }


def tick_functions() -> dict[str, TickFunction]:
    """The jobs this build can run, by their contract name (section 7); ``cleanup`` has no
    batches and always runs inline."""
    ticks: dict[str, TickFunction] = {job: b.run_tick for job, b in batched_jobs().items()}
    return {**ticks, "cleanup": cleanup.run_tick}
