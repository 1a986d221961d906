"""One user as the send rules see them: effective zone and switches, defaults filled in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.db.schema import notification_settings, users, workspaces
from notifier.rules.upcoming import Recipient
from notifier.timemath.zones import effective_zone_name, get_zone


class UserNotFoundError(LookupError):
    """No user with that id."""


@dataclass(frozen=True)
class User:
    """The recipient facts plus what the support tools show about the user."""

    recipient: Recipient
    zone_name: str
    email: str | None
    full_name: str | None
    workspace_id: uuid.UUID | None


def _query(user_id: uuid.UUID) -> Select[Any]:
    """The user with the contract's defaults for a missing ``notification_settings`` row."""
    u, w, n = users.c, workspaces.c, notification_settings.c
    return (
        select(
            u.id,
            u.email,
            u.full_name,
            u.workspace_id,
            u.timezone.label("user_zone"),
            w.timezone.label("workspace_zone"),
            u.is_active,
            func.coalesce(n.email_enabled, True).label("email_enabled"),
            func.coalesce(n.appointment_reminders_enabled, True).label("appointments_on"),
            n.appointment_reminder_minutes.label("minutes"),
            func.coalesce(n.digest_enabled, False).label("digest_on"),
            func.coalesce(n.digest_time, time(7, 0)).label("digest_time"),
            func.coalesce(n.digest_skip_weekends, False).label("skip_weekends"),
            n.digest_days,
            func.coalesce(n.notes_reminder_enabled, False).label("notes_on"),
            func.coalesce(n.notes_reminder_time, time(18, 0)).label("notes_time"),
            func.coalesce(n.weekly_report_enabled, False).label("weekly_on"),
            func.coalesce(n.weekly_report_day, 1).label("weekly_day"),
            func.coalesce(n.weekly_report_time, time(8, 0)).label("weekly_time"),
            func.coalesce(n.task_reminders_enabled, True).label("tasks_on"),
            n.quiet_hours_start,
            n.quiet_hours_end,
        )
        .select_from(users)
        .outerjoin(workspaces, w.id == u.workspace_id)
        .outerjoin(notification_settings, n.user_id == u.id)
        .where(u.id == user_id)
    )


async def load_user(conn: AsyncConnection, user_id: uuid.UUID) -> User:
    """The user; raises ``UserNotFoundError``, or ``UnknownZoneError`` for a bad zone name."""
    row = (await conn.execute(_query(user_id))).mappings().first()
    if row is None:
        raise UserNotFoundError(f"no user with id {user_id}")
    zone_name = effective_zone_name(row["user_zone"], row["workspace_zone"])
    return User(
        recipient=_recipient(row, get_zone(zone_name)),
        zone_name=zone_name,
        email=row["email"],
        full_name=row["full_name"],
        workspace_id=row["workspace_id"],
    )


def _recipient(row: Any, zone: Any) -> Recipient:
    return Recipient(
        user_id=row["id"],
        zone=zone,
        is_active=bool(row["is_active"]),
        email_enabled=bool(row["email_enabled"]),
        appointment_reminders_enabled=bool(row["appointments_on"]),
        appointment_minutes=row["minutes"],
        digest_enabled=bool(row["digest_on"]),
        digest_time=row["digest_time"],
        digest_skip_weekends=bool(row["skip_weekends"]),
        digest_days=row["digest_days"],
        notes_reminder_enabled=bool(row["notes_on"]),
        notes_reminder_time=row["notes_time"],
        weekly_report_enabled=bool(row["weekly_on"]),
        weekly_report_day=row["weekly_day"],
        weekly_report_time=row["weekly_time"],
        task_reminders_enabled=bool(row["tasks_on"]),
        quiet_hours_start=row["quiet_hours_start"],
        quiet_hours_end=row["quiet_hours_end"],
    )
