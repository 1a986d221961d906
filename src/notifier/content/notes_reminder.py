"""The template context of a ``notes_reminder``: how many session notes are still drafts."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from notifier.content.local_day import day_context, plural


def notes_context(
    *,
    user_name: str | None,
    day: date,
    due: datetime,
    zone: ZoneInfo,
    draft_count: int,
    base_url: str,
) -> dict[str, object]:
    """Everything the three ``notes_reminder`` templates use."""
    base = base_url.rstrip("/")
    return {
        **day_context(day, due, zone, base),
        "user_name": user_name or "there",
        "draft_count": draft_count,
        "drafts_phrase": plural(draft_count, "session note", "session notes"),
        "verb": "is" if draft_count == 1 else "are",
        "notes_url": f"{base}/sessions?status=draft",
    }
