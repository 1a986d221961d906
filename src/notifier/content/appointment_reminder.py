"""The template context of an ``appointment_reminder``: who, when in the user's zone, where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from notifier.content.formatting import duration_phrase, long_local, short_local, zone_label


@dataclass(frozen=True)
class AppointmentFacts:
    """The rows' values the email shows; strings are raw (the templates escape them)."""

    appointment_id: str
    starts_at: datetime
    client_name: str | None
    service_name: str | None
    location: str | None
    user_name: str | None


def reminder_context(
    facts: AppointmentFacts, zone: ZoneInfo, now: datetime, base_url: str
) -> dict[str, object]:
    """Everything the three templates of the kind use."""
    base = base_url.rstrip("/")
    return {
        "user_name": facts.user_name or "there",
        "client_name": facts.client_name or "your client",
        "service_name": facts.service_name,
        "location": facts.location,
        "start_local_long": long_local(facts.starts_at, zone),
        "start_local_short": short_local(facts.starts_at, zone),
        "zone_label": zone_label(facts.starts_at, zone),
        "time_left_phrase": duration_phrase(facts.starts_at - now),
        "appointment_url": f"{base}/appointments/{facts.appointment_id}",
        "settings_url": f"{base}/settings/notifications",
    }
