"""The next due date of a recurring task series (contract section 5), with dateutil's rrule.

One RFC 5545 engine serves all four types, so ``daily``/``weekly``/``monthly`` and a host's
own ``recurrence_rule`` (``custom``) behave alike. Three choices make the contract hold:

* The rule runs on the user's local wall clock (``dtstart`` aware in their zone), so 09:00 stays
  09:00 across DST. Each occurrence becomes an instant with ``fold=0``: a time inside a
  spring-forward gap moves forward by the gap, a repeated time is taken at its first
  occurrence, as for every other local time in notifier (contract section 4).
* ``dtstart`` is the series' FIRST task, never the previous instance, so a monthly series on
  the 31st comes back to the 31st after a short month and intervals keep their phase.
* ``monthly`` on days 29-31 uses ``BYMONTHDAY=(day, -1)`` with ``BYSETPOS=1``: the day itself
  where the month has it, else the month's last day (Jan 31 → Feb 28 → Mar 31). A ``custom``
  rule keeps RFC 5545's meaning (``BYMONTHDAY=31`` skips short months): the host wrote it.

Leniency and limits: ``recurrence_type`` is read case-insensitively; a ``custom`` rule may carry
an ``RRULE:`` prefix and an ``UNTIL`` without ``Z`` (read in the user's zone, where RFC 5545
wants UTC). Rejected as malformed: anything but one RRULE line, ``INTERVAL`` below 1,
``SECONDLY``/``MINUTELY`` frequencies (a task cannot be done every minute), and rules needing
more than ``MAX_STEPS`` occurrences to get past the completed one. Nothing here does I/O.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, tzinfo
from typing import Literal

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrule, rrulestr

Frequency = Literal[1, 2, 3]  # MONTHLY, WEEKLY, DAILY
FIXED_FREQUENCIES: dict[str, Frequency] = {"daily": DAILY, "weekly": WEEKLY, "monthly": MONTHLY}
MAX_INTERVAL = 10_000
MAX_STEPS = 100_000
_TOO_FINE = ("SECONDLY", "MINUTELY")
_FLOATING_UNTIL = re.compile(r"^(\d{8})(T\d{6})?$")


class BadRecurrenceError(ValueError):
    """A series whose next date cannot be computed; ``code`` is safe to log, the text is not."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


@dataclass(frozen=True)
class Recurrence:
    """A task's recurrence columns, as the host wrote them."""

    type: str | None
    interval: int | None = 1
    rule: str | None = None
    end: datetime | None = None


def next_due(
    recurrence: Recurrence, *, first_due: datetime, after: datetime, zone: tzinfo
) -> datetime | None:
    """The series' first occurrence strictly after ``after``; None once the series has ended.

    ``first_due`` is the due date of the series' first task (the rule's ``dtstart``).
    """
    found = first_after(build_rule(recurrence, first_due.astimezone(zone)), after)
    if found is None or (recurrence.end is not None and found > recurrence.end):
        return None
    return found


def build_rule(recurrence: Recurrence, start: datetime) -> rrule:
    """The rrule of a series whose first occurrence is the aware local datetime ``start``."""
    kind = (recurrence.type or "").strip().lower()
    if kind in FIXED_FREQUENCIES:
        return fixed_rule(FIXED_FREQUENCIES[kind], checked_interval(recurrence.interval), start)
    if kind == "custom":
        return custom_rule(recurrence.rule, start)
    raise BadRecurrenceError("unknown_type", f"unknown recurrence_type {recurrence.type!r}")


def checked_interval(value: int | None) -> int:
    """``recurrence_interval``, 1 when missing; refuses values that never advance or overflow."""
    if value is None:
        return 1
    if isinstance(value, bool) or not 1 <= value <= MAX_INTERVAL:
        raise BadRecurrenceError("bad_interval", f"recurrence_interval {value!r} is not 1..10000")
    return value


def fixed_rule(freq: Frequency, interval: int, start: datetime) -> rrule:
    """``daily``/``weekly``/``monthly``; monthly on days 29-31 clamps to short months' ends."""
    if freq == MONTHLY and start.day > 28:
        return rrule(
            MONTHLY, dtstart=start, interval=interval, bymonthday=(start.day, -1), bysetpos=1
        )
    return rrule(freq, dtstart=start, interval=interval)


def custom_rule(text: str | None, start: datetime) -> rrule:
    """A host's RRULE, parsed with ``dtstart`` = ``start``; raises BadRecurrenceError."""
    body = normalised_rule(text, start.tzinfo or UTC)
    try:
        parsed = rrulestr(body, dtstart=start)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise BadRecurrenceError("malformed_rule", f"{type(exc).__name__}: {exc}") from None
    if not isinstance(parsed, rrule):
        raise BadRecurrenceError("malformed_rule", "not a single RRULE")
    return parsed


def normalised_rule(text: str | None, zone: tzinfo) -> str:
    """The rule's ``NAME=VALUE`` parts checked, with a floating ``UNTIL`` turned into UTC."""
    body = (text or "").strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    if not body or any(c in body for c in "\r\n:"):
        raise BadRecurrenceError("malformed_rule", "recurrence_rule must be one RRULE line")
    parts = [_checked_part(part, zone) for part in body.split(";") if part]
    return ";".join(parts)


def _checked_part(part: str, zone: tzinfo) -> str:
    name, sep, value = part.partition("=")
    name = name.strip().upper()
    if not sep or not name:
        raise BadRecurrenceError("malformed_rule", "a rule part is not NAME=VALUE")
    if name == "FREQ" and value.strip().upper() in _TOO_FINE:
        raise BadRecurrenceError("malformed_rule", "FREQ finer than HOURLY is not for tasks")
    if name == "INTERVAL" and not (value.isascii() and value.isdigit() and int(value) >= 1):
        raise BadRecurrenceError("malformed_rule", "INTERVAL must be a whole number >= 1")
    if name == "UNTIL":
        value = _utc_until(value.strip(), zone)
    return f"{name}={value}"


def _utc_until(value: str, zone: tzinfo) -> str:
    """``UNTIL`` in UTC as RFC 5545 wants with a zoned start; a floating one is read locally."""
    match = _FLOATING_UNTIL.match(value)
    if match is None:
        return value  # already UTC ("...Z"), or malformed: rrulestr will say which
    day = datetime.strptime(match.group(1), "%Y%m%d")
    if match.group(2):
        local = datetime.strptime(value, "%Y%m%dT%H%M%S")
    else:
        local = datetime.combine(day.date(), time(23, 59, 59))
    return local.replace(tzinfo=zone).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def first_after(rule: rrule, after: datetime) -> datetime | None:
    """The first occurrence of ``rule`` later than the instant ``after``, as a UTC instant."""
    try:
        for step, occurrence in enumerate(rule):
            if step >= MAX_STEPS:
                raise BadRecurrenceError("too_many_steps", f"no occurrence in {MAX_STEPS}")
            instant = occurrence.astimezone(UTC)
            if instant > after:
                return instant
    except OverflowError:
        return None  # past year 9999: the series has no next date
    return None


def series_root(task_id: uuid.UUID, parent_of: Mapping[uuid.UUID, uuid.UUID | None]) -> uuid.UUID:
    """The series' first task: ``parent_task_id`` followed until a task without one.

    ``parent_of`` maps the tasks read so far to their parent. Instances made here always point
    at the first task; following links also serves hosts that chain each task to the previous
    one. A link to a row that is gone, or a cycle, stops the walk at the last id reached.
    """
    current, seen = task_id, {task_id}
    while (parent := parent_of.get(current)) is not None and parent not in seen:
        seen.add(parent)
        current = parent
    return current
