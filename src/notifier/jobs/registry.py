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
)
from notifier.services.batches import BatchedJob
from notifier.services.counts import TickCounts

TickFunction = Callable[[Services, datetime], Awaitable[TickCounts]]


def tick_functions() -> dict[str, TickFunction]:
    """The jobs this build can run, by their contract name (section 7)."""
    return {
        "appointment_reminders": appointment_reminders.run_tick,
        "daily_digest": daily_digest.run_tick,
        "notes_reminders": notes_reminders.run_tick,
        "task_due_reminders": task_due_reminders.run_tick,
        "task_reminders": task_reminders.run_tick,
        "overdue_scanner": overdue_scanner.run_tick,
        "recurring_tasks": recurring_tasks.run_tick,
        "cleanup": cleanup.run_tick,
    }


def batched_jobs() -> dict[str, BatchedJob]:
    """The jobs whose ticks may fan out: selection and sending halves, by job name."""
    modules = {
        "appointment_reminders": appointment_reminders,
        "daily_digest": daily_digest,
        "notes_reminders": notes_reminders,
        "task_due_reminders": task_due_reminders,
        "task_reminders": task_reminders,
        "overdue_scanner": overdue_scanner,
        "recurring_tasks": recurring_tasks,
    }
    return {job: BatchedJob(m.due_ids, m.process_batch) for job, m in modules.items()}
