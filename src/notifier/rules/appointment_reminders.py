"""Which reminder offsets of one appointment are due in a tick, and which of them to send.

Offsets are elapsed durations before ``starts_at`` (contract section 4), so plain UTC
subtraction is right whatever the wall clock does in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.rules.quiet_hours import before, due_in, held_into
from notifier.rules.recipient import RecipientState
from notifier.timemath.windows import Window

ALLOWED_OFFSETS: frozenset[int] = frozenset({15, 30, 60, 120, 1440})
DEFAULT_OFFSETS: tuple[int, ...] = (60,)
MAX_OFFSET = max(ALLOWED_OFFSETS)
NOTHING_HELD: Mapping[datetime, datetime] = {}


class BadOffsetsError(ValueError):
    """``appointment_reminder_minutes`` holds something other than allowed minute counts."""


@dataclass(frozen=True)
class DueOffset:
    """One reminder slot of an appointment: send it, or record it skipped. ``due`` is the
    instant it counts as due: the slot, or the end of the quiet period that held it."""

    minutes: int
    slot: datetime
    send: bool
    due: datetime


def parse_offsets(raw: object) -> tuple[int, ...]:
    """Validates the JSON column; a bad value costs its user alone (contract section 8)."""
    if raw is None:
        return DEFAULT_OFFSETS
    if not isinstance(raw, list):
        raise BadOffsetsError(f"appointment_reminder_minutes is not a list: {type(raw).__name__}")
    bad = [v for v in raw if isinstance(v, bool) or v not in ALLOWED_OFFSETS]
    if bad:
        raise BadOffsetsError(
            f"appointment_reminder_minutes has values outside {sorted(ALLOWED_OFFSETS)}"
        )
    return tuple(sorted(set(raw)))


def due_offsets(
    starts_at: datetime,
    offsets: Iterable[int],
    window: Window,
    now: datetime,
    held: Mapping[datetime, datetime] = NOTHING_HELD,
) -> list[DueOffset]:
    """Slots due in ``window``, their own or their hold's end (``held``: slot -> end); when
    several are, only the smallest offset is sent."""
    if starts_at <= now:
        return []
    due: list[DueOffset] = []
    for m in sorted(offsets):
        slot = starts_at - timedelta(minutes=m)
        at = due_in(window, slot, held.get(slot))
        if at is not None:
            due.append(DueOffset(minutes=m, slot=slot, send=not due, due=at))
    return due


def quiet_held(
    starts_at: datetime, offsets: Iterable[int], window: Window, recipient: RecipientState
) -> dict[datetime, datetime]:
    """Slots due in the day before ``window`` that the recipient's quiet hours hold into it
    (slot -> the period's end), whether or not a tick saw them then. A hold ending at or
    after the start needs no check here (contract section 10 sends those at their own due
    instant): its end lies in the window, so the appointment has begun (``due_offsets``)."""
    if recipient.quiet is None:
        return {}
    earlier = before(window)
    slots = [starts_at - timedelta(minutes=m) for m in offsets]
    dues = {slot: slot for slot in slots if slot in earlier}
    return held_into(window, dues, recipient.zone, recipient.quiet)


def event_windows(window: Window) -> list[Window]:
    """For each allowed offset, the ``starts_at`` range whose reminder falls due in ``window``.

    The selection reads each range from an index on ``starts_at``, so its cost follows the
    number of due appointments, not the size of the table.
    """
    return [window.shifted(timedelta(minutes=m)) for m in sorted(ALLOWED_OFFSETS)]
