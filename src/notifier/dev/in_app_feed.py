"""The demo users' in-app feeds, read from ``in_app_notifications`` for the dev inbox.

The host application shows these rows in its own UI; dev mode has no host, so the inbox shows
them instead, per user, newest first, as the host would read them. Only the demo workspace's
users are read (the database may be a real one given by ``DATABASE_URL``), and at most
``limit`` rows, so the page stays small.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.db.schema import in_app_notifications, users
from notifier.dev.seed import DEMO_WORKSPACE_ID

DEFAULT_LIMIT = 500


@dataclass(frozen=True)
class FeedItem:
    """One in-app row, as the host would show it."""

    id: uuid.UUID
    kind: str
    title: str
    body: str
    url: str | None
    created_at: datetime
    read_at: datetime | None

    def summary(self) -> dict[str, object]:
        """The entry of the inbox's JSON API."""
        return {
            "id": str(self.id),
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
            "url": self.url,
            "created_at": self.created_at.isoformat(),
            "read": self.read_at is not None,
        }


@dataclass
class UserFeed:
    """One demo user's rows, newest first."""

    user_id: uuid.UUID
    name: str
    email: str
    items: list[FeedItem] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "user_id": str(self.user_id),
            "name": self.name,
            "email": self.email,
            "notifications": [item.summary() for item in self.items],
        }


def _item(row: Any) -> FeedItem:
    return FeedItem(row.id, row.kind, row.title, row.body, row.url, row.created_at, row.read_at)


class InAppFeed:
    """Reads the feeds on demand; the inbox owns the engine's lifetime."""

    def __init__(self, engine: AsyncEngine, limit: int = DEFAULT_LIMIT) -> None:
        self._engine = engine
        self._limit = limit

    async def feeds(self) -> list[UserFeed]:
        """Users with at least one row, the most recently notified first."""
        n = in_app_notifications.c
        stmt = (
            select(n.id, n.kind, n.title, n.body, n.url, n.created_at, n.read_at, n.user_id)
            .add_columns(users.c.full_name, users.c.email)
            .join_from(in_app_notifications, users, users.c.id == n.user_id)
            .where(users.c.workspace_id == DEMO_WORKSPACE_ID)
            .order_by(n.created_at.desc(), n.id)
            .limit(self._limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        feeds: dict[uuid.UUID, UserFeed] = {}
        for row in rows:
            feed = feeds.setdefault(
                row.user_id, UserFeed(row.user_id, row.full_name or "", row.email or "")
            )
            feed.items.append(_item(row))
        return list(feeds.values())
