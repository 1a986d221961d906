"""What one user will be sent in a time span, and when: the dry run behind ``notifier upcoming``.

Pure: the caller reads the rows (``ops.upcoming``); each kind is then planned with the same
rules its job applies, so the answer cannot drift from what the worker does:

* ``appointment_reminder``: ``rules.appointment_reminders`` (offsets are elapsed time);
* ``daily_digest``, ``weekly_report`` and ``notes_reminder``:
  ``rules.local_time_slots.due_slots`` (the local wall time on the kind's weekdays, with the
  contract's gap and fold rules);
* ``task_due``: the first tick that sees the due date within 24 hours;
* ``task_reminder``: ``remind_at``, however late up to 24 hours;
* ``task_overdue``: the first tick after the due date.

An item is due at ``due`` and goes out at ``send_at``: the first tick of its job's schedule at
or after that (``timemath.cron.first_firing``). The span starts a catch-up window before
``now``, so something due a moment ago and not yet recorded shows as going out at the next
tick. Slots already recorded (sent, skipped or failed) are left out.

Quiet hours are the recipient policy's (``rules.recipient.decide``), asked at the instant the
email would go out: a held item goes at the first tick from the period's end, and says so. A
slot the ledger already holds goes at the first tick from its hold's end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo

from notifier.rules.appointment_reminders import BadOffsetsError, due_offsets, parse_offsets
from notifier.rules.kinds import BY_NAME, TASK_DUE_LEAD, TASK_REMINDER_LATENESS, Kind
from notifier.rules.local_time_slots import (
    EVERY_DAY,
    WORKDAYS,
    BadWeekdaysError,
    Weekdays,
    digest_weekdays,
    due_slots,
    one_weekday,
    slot_instant,
)
from notifier.rules.quiet_hours import QuietHours
from notifier.rules.recipient import Hold, RecipientState, decide, refusal_of, user_refusal
from notifier.timemath.cron import CronSpec, first_firing
from notifier.timemath.windows import Window

ONE_MICROSECOND = timedelta(microseconds=1)
SlotId = tuple[str, uuid.UUID, datetime]


@dataclass(frozen=True)
class Recipient:
    """One user's effective zone and switches, the contract's defaults filled in."""

    user_id: uuid.UUID
    zone: tzinfo
    is_active: bool = True
    email_enabled: bool = True
    appointment_reminders_enabled: bool = True
    appointment_minutes: object = None
    digest_enabled: bool = False
    digest_time: time = time(7, 0)
    digest_skip_weekends: bool = False
    digest_days: object = None  # ``notification_settings.digest_days`` as stored
    notes_reminder_enabled: bool = False
    notes_reminder_time: time = time(18, 0)
    weekly_report_enabled: bool = False
    weekly_report_day: int = 1
    weekly_report_time: time = time(8, 0)
    task_reminders_enabled: bool = True
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None

    def state(self, kind: Kind | None = None) -> RecipientState:
        """The recipient policy's view of this user for ``kind`` (any kind: its switch on)."""
        kind_on = True if kind is None else bool(getattr(self, kind.switch))
        quiet = QuietHours.of(self.quiet_hours_start, self.quiet_hours_end)
        return RecipientState(self.is_active, self.email_enabled, kind_on, quiet, self.zone)

    def quiet_note(self) -> str | None:
        """Why the quiet-hour settings make no period, when one end alone is set."""
        start, end = self.quiet_hours_start, self.quiet_hours_end
        if (start is None) == (end is None):
            return None
        missing = "quiet_hours_end" if end is None else "quiet_hours_start"
        return f"no quiet hours: {missing} is not set (both ends are needed)"


@dataclass(frozen=True)
class TaskFact:
    """An open task of the user."""

    task_id: uuid.UUID
    due_date: datetime | None
    status: str


@dataclass(frozen=True)
class ReminderFact:
    """An unsent email ``task_reminders`` row of an open task of the user."""

    reminder_id: uuid.UUID
    remind_at: datetime


@dataclass(frozen=True)
class Facts:
    """Everything the plan reads, loaded by the caller."""

    recipient: Recipient
    appointments: Sequence[tuple[uuid.UUID, datetime]] = ()  # scheduled: (id, starts_at)
    tasks: Sequence[TaskFact] = ()
    reminders: Sequence[ReminderFact] = ()
    draft_count: int = 0
    recorded: frozenset[SlotId] = frozenset()
    held: Mapping[SlotId, datetime] = field(default_factory=dict)  # the ledger's holds' ends


@dataclass(frozen=True, order=True)
class Item:
    """One email that will go out."""

    send_at: datetime
    due: datetime
    kind: str
    entity_id: uuid.UUID
    slot: datetime = field(compare=False)  # the ledger's slot of this email
    note: str = field(default="", compare=False)


@dataclass(frozen=True)
class Span:
    """The question: from ``now`` for ``length``, with the worker's settings."""

    now: datetime
    length: timedelta
    catch_up: timedelta
    schedules: Mapping[str, CronSpec]  # enabled jobs only

    @property
    def end(self) -> datetime:
        return self.now + self.length

    @property
    def window(self) -> Window:
        """Due instants that can still go out: from a catch-up window ago to the end."""
        return Window(self.now - self.catch_up, self.end)


@dataclass
class Plan:
    """The items, oldest first, and why some kinds send nothing."""

    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan(facts: Facts, span: Span) -> Plan:
    """Every email the user is due to get in the span, and notes on kinds that send none."""
    result = Plan()
    reason = user_refusal(facts.recipient.state())
    if reason:
        result.notes.append(f"nothing is sent: {reason}")
        return result
    quiet_note = facts.recipient.quiet_note()
    if quiet_note:
        result.notes.append(quiet_note)
    for kind, candidates in _candidates(facts, span, result.notes):
        _keep(result, kind, candidates, facts, span)
    result.items.sort()
    return result


@dataclass(frozen=True)
class Candidate:
    """An email one kind's rules would send: due at ``due``, by a tick no later than
    ``latest`` (None: no limit), for the ledger slot ``(entity, slot)``."""

    due: datetime
    entity: uuid.UUID
    slot: datetime
    note: str
    latest: datetime | None = None
    deadline: datetime | None = None  # a hold reaching it sends at once (section 10)


def _candidates(
    facts: Facts, span: Span, notes: list[str]
) -> Iterator[tuple[str, list[Candidate]]]:
    """Each kind the user has switched on, with its candidate emails."""
    for kind, planner in _PLANNERS.items():
        refusal = refusal_of(facts.recipient.state(BY_NAME[kind]), BY_NAME[kind])
        if refusal:
            notes.append(f"{kind}: {refusal}")
        elif BY_NAME[kind].job not in span.schedules:
            notes.append(f"{kind}: the {BY_NAME[kind].job} job is disabled on this worker")
        else:
            yield kind, list(planner(facts, span, notes))


def _keep(result: Plan, kind: str, candidates: list[Candidate], facts: Facts, span: Span) -> None:
    """Candidates not yet recorded whose job's tick comes within the span and in time, then
    the kind's slots the ledger holds."""
    spec = span.schedules[BY_NAME[kind].job]
    state = facts.recipient.state(BY_NAME[kind])
    for c in candidates:
        if (kind, c.entity, c.slot) in facts.recorded or (kind, c.entity, c.slot) in facts.held:
            continue
        send_at = first_firing(spec, max(c.due, span.now))
        if send_at > span.end or (c.latest is not None and send_at > c.latest):
            continue
        decision = decide(state, BY_NAME[kind], "email", send_at, c.deadline)
        if isinstance(decision, Hold):
            send_at = first_firing(spec, decision.until)
            note = c.note + "; " + held_note(decision.until, facts.recipient.zone)
            if send_at <= span.end:
                result.items.append(Item(send_at, decision.until, kind, c.entity, c.slot, note))
            continue
        result.items.append(Item(send_at, c.due, kind, c.entity, c.slot, c.note))
    _keep_held(result, kind, spec, facts, span)


def _keep_held(result: Plan, kind: str, spec: CronSpec, facts: Facts, span: Span) -> None:
    """The kind's slots the ledger holds: due at their holds' ends."""
    for (held_kind, entity, slot), until in facts.held.items():
        send_at = first_firing(spec, max(until, span.now))
        if held_kind == kind and send_at <= span.end:
            note = held_note(until, facts.recipient.zone)
            result.items.append(Item(send_at, until, kind, entity, slot, note))


def held_note(until: datetime, zone: tzinfo) -> str:
    """How ``upcoming`` and ``preview`` say that quiet hours hold an email."""
    return f"held for quiet hours until {local_label(until, zone)}"


def _appointments(facts: Facts, span: Span, notes: list[str]) -> Iterator[Candidate]:
    try:
        offsets = parse_offsets(facts.recipient.appointment_minutes)
    except BadOffsetsError as exc:
        notes.append(f"appointment_reminder: {exc}")
        return
    zone = facts.recipient.zone
    for appointment_id, starts_at in facts.appointments:
        for minutes in offsets:
            for due in due_offsets(starts_at, [minutes], span.window, span.now):
                note = f"{minutes} min before the appointment at {local_label(starts_at, zone)}"
                if offset_at(due.slot, zone) != offset_at(starts_at, zone):
                    note += "; the clocks change in between (offsets are elapsed time)"
                latest = min(due.slot + span.catch_up, starts_at - ONE_MICROSECOND)
                yield Candidate(due.slot, appointment_id, due.slot, note, latest, starts_at)


def _local_time(
    facts: Facts, span: Span, at: time, days: Weekdays, note: str
) -> Iterator[Candidate]:
    r = facts.recipient
    for slot in due_slots(r.zone, at, days, span.window):
        text = note + wall_note(slot.due, at, r.zone)
        yield Candidate(slot.due, r.user_id, slot_instant(slot.day), text, slot.due + span.catch_up)


def _digests(facts: Facts, span: Span, notes: list[str]) -> Iterator[Candidate]:
    r = facts.recipient
    try:
        days = digest_weekdays(r.digest_skip_weekends, r.digest_days)
    except BadWeekdaysError as exc:
        notes.append(f"daily_digest: {exc}: each date's digest is recorded failed")
        return iter(())
    note = f"at {r.digest_time:%H:%M} local" + _days_note(days)
    return _local_time(facts, span, r.digest_time, days, note)


def _days_note(days: Weekdays) -> str:
    """``, weekdays only`` or ``, on Mondays, Thursdays``; nothing for every day."""
    if days == EVERY_DAY:
        return ""
    if days == WORKDAYS:
        return ", weekdays only"
    return (
        ", on " + ", ".join(ISO_DAY_NAMES[day - 1] for day in sorted(days))
        if days
        else ", on no day"
    )


ISO_DAY_NAMES = (
    "Mondays",
    "Tuesdays",
    "Wednesdays",
    "Thursdays",
    "Fridays",
    "Saturdays",
    "Sundays",
)


def _weekly(facts: Facts, span: Span, notes: list[str]) -> Iterator[Candidate]:
    r = facts.recipient
    days = one_weekday(r.weekly_report_day)
    if not days:
        notes.append(f"weekly_report: weekly_report_day {r.weekly_report_day} names no weekday")
        return iter(())
    note = f"at {r.weekly_report_time:%H:%M} local on {ISO_DAY_NAMES[r.weekly_report_day - 1]}"
    return _local_time(facts, span, r.weekly_report_time, days, note)


def _notes(facts: Facts, span: Span, notes: list[str]) -> Iterator[Candidate]:
    r = facts.recipient
    drafts = facts.draft_count
    note = f"at {r.notes_reminder_time:%H:%M} local, only if drafts remain ({drafts} now)"
    return _local_time(facts, span, r.notes_reminder_time, EVERY_DAY, note)


def _tasks_due(facts: Facts, span: Span, notes: list[str]) -> Iterator[Candidate]:
    for task in facts.tasks:
        if task.due_date is None or task.due_date <= span.now:
            continue
        note = f"the task is due {local_label(task.due_date, facts.recipient.zone)}"
        latest = task.due_date - ONE_MICROSECOND  # only while the due date is ahead
        due = task.due_date - TASK_DUE_LEAD
        yield Candidate(due, task.task_id, task.due_date, note, latest, task.due_date)


def _task_reminders(facts: Facts, span: Span, notes: list[str]) -> Iterator[Candidate]:
    for reminder in facts.reminders:
        at = reminder.remind_at
        yield Candidate(at, reminder.reminder_id, at, "task reminder", at + TASK_REMINDER_LATENESS)


def _overdue(facts: Facts, span: Span, notes: list[str]) -> Iterator[Candidate]:
    for task in facts.tasks:
        if task.due_date is None or task.status == "overdue":
            continue
        # The scanner takes a task whose due date is strictly before its tick.
        due = task.due_date + ONE_MICROSECOND
        yield Candidate(due, task.task_id, task.due_date, "the task becomes overdue")


_PLANNERS = {
    "appointment_reminder": _appointments,
    "daily_digest": _digests,
    "weekly_report": _weekly,
    "notes_reminder": _notes,
    "task_due": _tasks_due,
    "task_reminder": _task_reminders,
    "task_overdue": _overdue,
}


def offset_at(instant: datetime, zone: tzinfo) -> timedelta:
    """The zone's UTC offset at ``instant``."""
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def local_label(instant: datetime, zone: tzinfo) -> str:
    """``2026-03-08 10:00 EDT``: the wall time and its abbreviation."""
    local = instant.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".strip()


def wall_note(due: datetime, at: time, zone: tzinfo) -> str:
    """Why a once-a-day email is not at its wall time, or happens at the first of two."""
    local = due.astimezone(zone)
    if (local.hour, local.minute) != (at.hour, at.minute):
        return f"; {at:%H:%M} does not exist that day (clocks go forward): sent at {local:%H:%M}"
    naive = local.replace(tzinfo=None)
    second = naive.replace(fold=1).replace(tzinfo=zone)
    if offset_at(second, zone) != offset_at(due, zone):
        return f"; {at:%H:%M} happens twice that night (clocks go back): sent at the first"
    return ""


@dataclass(frozen=True)
class OffsetChange:
    """A change of the zone's UTC offset (a DST transition) at instant ``at``."""

    at: datetime
    before: timedelta
    after: timedelta


def offset_changes(zone: tzinfo, start: datetime, end: datetime) -> list[OffsetChange]:
    """Every offset change in ``(start, end]``, to the second (zones change at most hourly)."""
    changes = []
    step = timedelta(minutes=30)
    at = start
    while at < end:
        following = min(at + step, end)
        if offset_at(at, zone) != offset_at(following, zone):
            changes.append(_bisect(zone, at, following))
        at = following
    return changes


def _bisect(zone: tzinfo, low: datetime, high: datetime) -> OffsetChange:
    before = offset_at(low, zone)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if offset_at(middle, zone) == before:
            low = middle
        else:
            high = middle
    return OffsetChange(high.replace(microsecond=0), before, offset_at(high, zone))
