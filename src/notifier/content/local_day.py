"""How a user's local date reads in the once-a-day emails (digest, notes reminder)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from notifier.content.formatting import zone_label


def long_date(day: date) -> str:
    """``Monday 9 March 2026``: written out, never ambiguous between day and month."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def plural(count: int, one: str, many: str) -> str:
    """``1 appointment``, ``3 appointments``."""
    return f"{count} {one if count == 1 else many}"


def amount(count: int, one: str, many: str) -> str:
    """``no appointments``, ``1 appointment``, ``3 appointments``: a count in a sentence."""
    return f"no {many}" if count == 0 else plural(count, one, many)


def day_context(day: date, due: datetime, zone: ZoneInfo, base_url: str) -> dict[str, object]:
    """What both kinds' templates share: the date, the zone named, the settings link."""
    return {
        "date_long": long_date(day),
        "zone_label": zone_label(due, zone),
        "settings_url": f"{base_url.rstrip('/')}/settings/notifications",
    }
