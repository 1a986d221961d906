"""Five-field cron expressions (UTC) turned into the field sets that ``arq.cron`` takes.

We parse ourselves because arq accepts sets, not expressions, and operators know cron syntax.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
)


@dataclass(frozen=True)
class CronSpec:
    """Allowed values per field; ``None`` means every value. Weekday uses Monday=0, as arq does."""

    minute: frozenset[int] | None
    hour: frozenset[int] | None
    day: frozenset[int] | None
    month: frozenset[int] | None
    weekday: frozenset[int] | None

    def arq_options(self) -> dict[str, set[int] | None]:
        """The fields as mutable sets, as ``arq.cron`` wants them."""
        return {name: (set(v) if v is not None else None) for name, v in vars(self).items()}


def parse_cron(expression: str) -> CronSpec:
    """Parses ``"*/5 * * * *"``; raises ValueError naming the bad field."""
    parts = expression.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(f"cron expression needs 5 fields, got {len(parts)}: {expression!r}")
    values = {
        name: _parse_field(part, low, high, name)
        for part, (name, low, high) in zip(parts, _FIELDS, strict=True)
    }
    weekday = values["weekday"]
    if weekday is not None:
        values["weekday"] = frozenset((d - 1) % 7 for d in weekday)
    return CronSpec(**values)


def _parse_field(text: str, low: int, high: int, name: str) -> frozenset[int] | None:
    if text == "*":
        return None
    allowed: set[int] = set()
    for item in text.split(","):
        allowed.update(_parse_item(item, low, high, name))
    return frozenset(allowed)


def _parse_item(item: str, low: int, high: int, name: str) -> range:
    span, _, step_text = item.partition("/")
    try:
        step = int(step_text) if step_text else 1
        if span == "*":
            start, stop = low, high
        elif "-" in span:
            first, last = span.split("-", 1)
            start, stop = int(first), int(last)
        else:
            start = int(span)
            stop = high if step_text else start
    except ValueError:
        raise ValueError(f"cron {name} field: cannot read {item!r}") from None
    if not (low <= start <= stop <= high) or step < 1:
        raise ValueError(f"cron {name} field: {item!r} is outside {low}-{high}")
    return range(start, stop + 1, step)


_MAX_STEPS = 2000  # a real expression fires within ~130 steps; Feb 30 never does


def first_firing(spec: CronSpec, instant: datetime) -> datetime:
    """The first whole UTC minute at or after ``instant`` that ``spec`` fires on.

    Day-of-month and weekday must both match, as in arq (classic cron ORs them). Jumps a
    field at a time (month, day, hour, minute), so a daily or monthly schedule costs a few
    dozen steps, not a minute-by-minute walk.
    """
    at = _ceil_minute(instant.astimezone(UTC))
    for _ in range(_MAX_STEPS):
        step = _mismatch(spec, at)
        if step is None:
            return at
        at = step
    raise ValueError("the cron expression never fires")


def _ceil_minute(instant: datetime) -> datetime:
    whole = instant.replace(second=0, microsecond=0)
    return whole if whole == instant else whole + timedelta(minutes=1)


def _mismatch(spec: CronSpec, at: datetime) -> datetime | None:
    """The next candidate after the first field of ``at`` that ``spec`` rejects, or None."""
    if spec.month is not None and at.month not in spec.month:
        first = at.replace(day=1, hour=0, minute=0)
        return (first + timedelta(days=32)).replace(day=1)
    day_ok = spec.day is None or at.day in spec.day
    if not day_ok or (spec.weekday is not None and at.weekday() not in spec.weekday):
        return at.replace(hour=0, minute=0) + timedelta(days=1)
    if spec.hour is not None and at.hour not in spec.hour:
        return at.replace(minute=0) + timedelta(hours=1)
    if spec.minute is not None and at.minute not in spec.minute:
        return at + timedelta(minutes=1)
    return None


def longest_gap(spec: CronSpec, start: datetime, span: timedelta = timedelta(days=8)) -> timedelta:
    """The longest time between two firings over ``span`` from ``start`` (a week and a day
    covers every weekday pattern; a monthly schedule reports the gap it sees)."""
    end = start + span
    previous = first_firing(spec, start)
    longest = timedelta(0)
    while previous < end:
        following = first_firing(spec, previous + timedelta(minutes=1))
        longest = max(longest, following - previous)
        previous = following
    return longest
