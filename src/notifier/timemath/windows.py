"""The catch-up window: a tick at ``now`` owns every instant in ``(now - catch_up, now]``.

Matching "this minute" loses whatever falls due while a tick is late or a worker is down;
owning a half-open window means consecutive ticks cover time without gaps or overlaps, and
late ticks still pick up what they missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Window:
    """A half-open interval of instants ``(start, end]``."""

    start: datetime
    end: datetime

    def __contains__(self, instant: datetime) -> bool:
        return self.start < instant <= self.end

    def shifted(self, by: timedelta) -> Window:
        """The same window moved by ``by``; used to turn due instants into event instants."""
        return Window(self.start + by, self.end + by)


def catch_up_window(now: datetime, catch_up: timedelta) -> Window:
    """The window a tick at ``now`` is responsible for."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return Window(now - catch_up, now)


def unseen_before(window: Window, looked_until: datetime | None, reach: timedelta) -> Window | None:
    """The part of the ``reach`` before ``window`` that no earlier tick's window held, given
    the latest window end a tick selected through; None when there is none.

    Ticks within a catch-up window of each other leave no gap. A mark further on than one
    window past this one (a tick run for a past instant, ``notifier run --at``) tells
    nothing about the time before this window, so the whole reach counts as unseen; so does
    no mark at all (the kind's first tick).
    """
    earliest = window.start - reach
    if looked_until is None or looked_until > window.end + (window.end - window.start):
        return Window(earliest, window.start)
    if looked_until >= window.start:
        return None
    return Window(max(looked_until, earliest), window.start)
