"""Five-field cron expressions (UTC) turned into the field sets that ``arq.cron`` takes.

We parse ourselves because arq accepts sets, not expressions, and operators know cron syntax.
"""

from __future__ import annotations

from dataclasses import dataclass

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
