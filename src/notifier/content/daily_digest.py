"""The template context of a ``daily_digest``: one local date's appointments, in time order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from notifier.content.local_day import day_context, plural
from notifier.timemath.zones import in_zone


@dataclass(frozen=True)
class DigestAppointment:
    """One row of the list; strings are raw (the HTML template escapes them)."""

    appointment_id: str
    starts_at: datetime
    client_name: str | None
    service_name: str | None
    location: str | None


def _entry(
    item: DigestAppointment, zone: ZoneInfo, day_abbreviation: str, base: str
) -> dict[str, object]:
    local = in_zone(item.starts_at, zone)
    abbreviation = local.tzname() or ""
    # On a DST day two rows can show the same wall time; the abbreviation tells them apart.
    suffix = f" {abbreviation}" if abbreviation != day_abbreviation else ""
    return {
        "time": f"{local:%H:%M}{suffix}",
        "client_name": item.client_name or "No client named",
        "service_name": item.service_name,
        "location": item.location,
        "url": f"{base}/appointments/{item.appointment_id}",
    }


def digest_context(
    *,
    user_name: str | None,
    day: date,
    due: datetime,
    zone: ZoneInfo,
    appointments: Sequence[DigestAppointment],
    base_url: str,
) -> dict[str, object]:
    """Everything the three ``daily_digest`` templates use."""
    base = base_url.rstrip("/")
    ordered = sorted(appointments, key=lambda a: (a.starts_at, a.appointment_id))
    day_abbreviation = in_zone(due, zone).tzname() or ""
    return {
        **day_context(day, due, zone, base),
        "user_name": user_name or "there",
        "appointments": [_entry(a, zone, day_abbreviation, base) for a in ordered],
        "count_phrase": plural(len(ordered), "appointment", "appointments")
        if ordered
        else "no appointments",
        "calendar_url": f"{base}/calendar?date={day.isoformat()}",
    }
