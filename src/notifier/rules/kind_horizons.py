"""What a ``reminders_sent`` slot means per kind, and how long its row still matters; pure.

The slot is not the same thing for every kind (contract section 3): it is the due instant of
an appointment reminder, a task reminder or an overdue notice; the due date of a task_due
email, which is sent up to a day *before* it; and a local date's 00:00 UTC for the two
once-a-day kinds, whose due instant lies up to about 38 hours after that. Cleanup and
``/health`` need three facts per kind, kept here in one table:

* ``reselect``: how long after its slot a tick can still select the slot again. For that
  long a finished row is what stops a second email, so cleanup keeps it. The task kinds have
  lasting marks of their own: ``task_reminders.sent`` (and the 24-hour limit) for
  ``task_reminder``, ``tasks.status = 'overdue'`` for ``task_overdue`` (cleanup checks that
  mark in SQL), and ``task_due`` is only selected while its due date is ahead.
* ``last_chance``: how long after its anchor (the slot, or the row's first claim for
  ``task_overdue``, whose ticks retry for as long as the task stays open) a ``pending`` row
  can still be sent. Past it, plus a margin, cleanup records it failed ("window passed").
* ``slot_is_due``: whether the slot is the instant the email fell due; ``/health`` measures
  the age of a waiting row from it, and from the row's first claim otherwise.

The task constants mirror ``services.task_reminders`` (a unit test holds them equal): rules
import no services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# A wall time on local date D happens between D-1 10:00 UTC (UTC+14) and D+1 12:00 UTC
# (UTC-12), a gap pushing it at most an hour or two later: within 48 h after D 00:00 UTC.
LOCAL_DATE_REACH = timedelta(hours=48)
TASK_REMINDER_SEND_LIMIT = timedelta(hours=24)
TASK_REMINDER_SCAN_REACH = timedelta(days=8)  # MAX_LATENESS + LATE_RECORD_HORIZON
OVERDUE_RETRY_LIMIT = timedelta(hours=24)
SLOT = "slot"
FIRST_CLAIM = "created_at"


@dataclass(frozen=True)
class KindHorizon:
    """The three facts of one kind (see the module's docstring)."""

    reselect: timedelta
    last_chance: timedelta
    anchor: str = SLOT
    slot_is_due: bool = False


def kind_horizons(catch_up: timedelta) -> dict[str, KindHorizon]:
    """Every kind the worker records, for a catch-up window of ``catch_up``."""
    local_date = KindHorizon(LOCAL_DATE_REACH + catch_up, LOCAL_DATE_REACH + catch_up)
    return {
        "appointment_reminder": KindHorizon(catch_up, catch_up, slot_is_due=True),
        "daily_digest": local_date,
        "notes_reminder": local_date,
        "task_due": KindHorizon(timedelta(0), timedelta(0)),
        "task_reminder": KindHorizon(
            TASK_REMINDER_SCAN_REACH, TASK_REMINDER_SEND_LIMIT, slot_is_due=True
        ),
        "task_overdue": KindHorizon(
            timedelta(0), OVERDUE_RETRY_LIMIT, anchor=FIRST_CLAIM, slot_is_due=True
        ),
        "recurring_task": KindHorizon(timedelta(0), timedelta(0), anchor=FIRST_CLAIM),
    }


def fallback_horizon(catch_up: timedelta) -> KindHorizon:
    """For a kind this table does not know (a newer worker's): the widest of all."""
    known = kind_horizons(catch_up).values()
    return KindHorizon(
        reselect=max(h.reselect for h in known),
        last_chance=max(h.last_chance for h in known),
        anchor=FIRST_CLAIM,
    )
