"""Turning one kind's email off for one user: what a one-click unsubscribe does (section 10).

The answer is a ``notification_preferences`` row ``(user, kind, 'email', enabled = false)``:
the recipient's channel choice (``services.channel_choice``) then leaves email out for that
kind, and every other channel and kind stays as it was. Idempotent: a second request finds the
row already off and changes nothing else.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.db.schema import notification_preferences, users
from notifier.rules.kinds import EMAIL


class Unsubscribed(Enum):
    DONE = "done"
    NO_SUCH_USER = "no such user"


async def turn_email_off(
    engine: AsyncEngine, user_id: uuid.UUID, kind: str, now: datetime
) -> Unsubscribed:
    """Records ``kind`` off on email for the user; a deleted user changes nothing."""
    p = notification_preferences.c
    async with engine.begin() as conn:
        found = await conn.scalar(select(users.c.id).where(users.c.id == user_id))
        if found is None:
            return Unsubscribed.NO_SUCH_USER
        module = postgresql if conn.dialect.name == "postgresql" else sqlite
        values = {"user_id": user_id, "kind": kind, "channel": EMAIL, "enabled": False}
        stmt = module.insert(notification_preferences).values(**values, updated_at=now)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[p.user_id, p.kind, p.channel],
                set_={"enabled": False, "updated_at": now},
                where=p.enabled.is_not(False),
            )
        )
    return Unsubscribed.DONE
