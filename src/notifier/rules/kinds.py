"""Every job and every notification kind, declared once; pure.

A kind's facts (the job that sends it, its switch, what its entity is, how long its slot
matters, its limits, its label and template folder) are read from here by every layer:
services, ``rules.upcoming``, ``ops``, ``/health``, cleanup and configuration. Adding a kind
is one ``Kind`` here, its service module (selection and content) and its templates.

Horizons, per kind (cleanup and ``/health`` read them):

* ``reselect``: how long after its slot a tick can still select the slot again. For that
  long a finished row is what stops a second notification, so cleanup keeps it. The task
  kinds have lasting marks of their own: ``task_reminders.sent`` (and the 24-hour limit) for
  ``task_reminder``, ``tasks.status = 'overdue'`` for ``task_overdue``, and ``task_due`` is
  only selected while its due date is ahead.
* ``last_chance``: how long after its anchor (the slot, or the row's first claim for kinds
  retried for as long as their row stays due) a ``pending`` row can still be sent. Past it,
  plus a margin, cleanup records it failed ("window passed").
* ``slot_is_due``: whether the slot is the instant the notification fell due; ``/health``
  measures the age of a waiting row from it, and from the row's first claim otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

# Contract section 9: the ways a notification reaches a user.
EMAIL, IN_APP, WEBHOOK = "email", "in_app", "webhook"
CHANNELS: tuple[str, ...] = (EMAIL, IN_APP, WEBHOOK)
SLOT = "slot"
FIRST_CLAIM = "created_at"
# A wall time on local date D happens between D-1 10:00 UTC (UTC+14) and D+1 12:00 UTC
# (UTC-12), a gap pushing it at most an hour or two later: within 48 h after D 00:00 UTC.
LOCAL_DATE_REACH = timedelta(hours=48)
ONE_DAY = timedelta(hours=24)
NO_TIME = timedelta(0)


@dataclass(frozen=True)
class Reach:
    """A span after a slot: a fixed part, plus the catch-up window when ``catch_up``."""

    fixed: timedelta = NO_TIME
    catch_up: bool = False

    def at(self, catch_up: timedelta) -> timedelta:
        return self.fixed + (catch_up if self.catch_up else NO_TIME)


CATCH_UP = Reach(catch_up=True)
LOCAL_DATE = Reach(LOCAL_DATE_REACH, catch_up=True)


@dataclass(frozen=True)
class Kind:
    """One notification kind (contract section 3)."""

    name: str  # ``reminders_sent.kind``, ``X-Notification-Kind``, the template folder
    job: str  # the job whose ticks send it
    switch: str  # its ``notification_settings`` column (and ``Recipient`` attribute)
    entity: str  # what ``entity_id`` names, for people
    label: str  # the kind in a sentence: "appointment reminders are off"
    reselect: Reach = Reach()
    last_chance: Reach = Reach()
    anchor: str = SLOT
    slot_is_due: bool = False
    # How late after its due instant a notification may still go out (None: the rows' state
    # decides, as for task_due and task_overdue).
    window: Reach | None = None
    # Summary emails: how many rows each of their lists shows (the rest is counted).
    list_cap: int = 0
    # Mail the user subscribed to (digests, reports, reminders of their own making), not a
    # transaction: it carries List-Id and one-click unsubscribe (contract section 10).
    subscribed: bool = False


@dataclass(frozen=True)
class Job:
    """One job: its name (``notifier run JOB``, ``JOB_<NAME>_*``), default cron, kind sent,
    and its priority lane (1 most urgent: reminders the user acts on within minutes; 2 the
    day's mail, due within its catch-up window; 3 housekeeping that may wait).
    ``jobs.lanes`` takes batches by lane and ``delivery.rate_limit`` spends the relay's rate
    by lane."""

    name: str
    schedule: str
    kind: str | None = None
    lane: int = field(kw_only=True)


# task_due: a task is emailed once it is due within this lead.
TASK_DUE_LEAD = ONE_DAY
# task_reminder: sent however late up to this; later ones are recorded skipped.
TASK_REMINDER_LATENESS = ONE_DAY
# task_reminder: how much further back a scan looks to record late rows skipped.
TASK_REMINDER_LATE_RECORD = timedelta(days=7)
# task_overdue: a claimed notice is retried while the task stays open, up to this.
OVERDUE_RETRY = ONE_DAY

KINDS: tuple[Kind, ...] = (
    Kind(
        "appointment_reminder",
        job="appointment_reminders",
        switch="appointment_reminders_enabled",
        entity="appointment",
        label="appointment reminders",
        reselect=CATCH_UP,
        last_chance=CATCH_UP,
        slot_is_due=True,
        window=CATCH_UP,
    ),
    Kind(
        "daily_digest",
        job="daily_digest",
        switch="digest_enabled",
        entity="user",
        label="daily digests",
        reselect=LOCAL_DATE,
        last_chance=LOCAL_DATE,
        window=CATCH_UP,
        list_cap=50,
        subscribed=True,
    ),
    Kind(
        "weekly_report",
        job="weekly_report",
        switch="weekly_report_enabled",
        entity="user",
        label="weekly reports",
        reselect=LOCAL_DATE,
        last_chance=LOCAL_DATE,
        window=CATCH_UP,
        list_cap=25,
        subscribed=True,
    ),
    Kind(
        "notes_reminder",
        job="notes_reminders",
        switch="notes_reminder_enabled",
        entity="user",
        label="notes reminders",
        reselect=LOCAL_DATE,
        last_chance=LOCAL_DATE,
        window=CATCH_UP,
        subscribed=True,
    ),
    Kind(
        "task_due",
        job="task_due_reminders",
        switch="task_reminders_enabled",
        entity="task",
        label="task reminders",
    ),
    Kind(
        "task_reminder",
        job="task_reminders",
        switch="task_reminders_enabled",
        entity="task reminder",
        label="task reminders",
        reselect=Reach(TASK_REMINDER_LATENESS + TASK_REMINDER_LATE_RECORD),
        last_chance=Reach(TASK_REMINDER_LATENESS),
        slot_is_due=True,
        window=Reach(TASK_REMINDER_LATENESS),
    ),
    Kind(
        "task_overdue",
        job="overdue_scanner",
        switch="task_reminders_enabled",
        entity="task",
        label="task reminders",
        last_chance=Reach(OVERDUE_RETRY),
        anchor=FIRST_CLAIM,
        slot_is_due=True,
    ),
)
BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KINDS}

# Ledger rows that are no notification: a recurring task the processor could not handle.
RECURRING_TASK = Kind(
    "recurring_task",
    job="recurring_tasks",
    switch="task_reminders_enabled",
    entity="task",
    label="recurring tasks",
    anchor=FIRST_CLAIM,
)
LEDGER_KINDS: tuple[Kind, ...] = (*KINDS, RECURRING_TASK)

JOBS: tuple[Job, ...] = (
    Job("appointment_reminders", "* * * * *", "appointment_reminder", lane=1),
    Job("daily_digest", "* * * * *", "daily_digest", lane=2),
    Job("weekly_report", "* * * * *", "weekly_report", lane=2),
    Job("notes_reminders", "* * * * *", "notes_reminder", lane=2),
    Job("task_due_reminders", "*/5 * * * *", "task_due", lane=2),
    Job("task_reminders", "* * * * *", "task_reminder", lane=1),
    Job("overdue_scanner", "*/15 * * * *", "task_overdue", lane=2),
    Job("recurring_tasks", "*/5 * * * *", lane=3),
    Job("cleanup", "17 3 * * *", lane=3),
)
JOB_NAMES: tuple[str, ...] = tuple(job.name for job in JOBS)
DEFAULT_SCHEDULES: dict[str, str] = {job.name: job.schedule for job in JOBS}
# The notification kind each job sends (contract section 3); None for jobs that send none.
JOB_KINDS: dict[str, str | None] = {job.name: job.kind for job in JOBS}
# Priority lanes (1 first): a job's batches, and a kind's share of the relay's rate.
LANES: tuple[int, ...] = (1, 2, 3)
JOB_LANES: dict[str, int] = {job.name: job.lane for job in JOBS}
KIND_LANES: dict[str, int] = {kind.name: JOB_LANES[kind.job] for kind in LEDGER_KINDS}
