"""Rows the way a host application writes them, with the fewest arguments a test needs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.db.schema import appointments, clients, notification_settings, users, workspaces


class Data:
    """Inserts host-side rows into one test database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _insert(self, table: Any, **values: Any) -> uuid.UUID:
        values.setdefault("id", uuid.uuid4())
        async with self.engine.begin() as conn:
            await conn.execute(insert(table).values(**values))
        return uuid.UUID(str(values["id"]))

    async def workspace(self, timezone: str = "UTC", name: str = "Practice") -> uuid.UUID:
        return await self._insert(workspaces, name=name, timezone=timezone)

    async def user(
        self,
        workspace_id: uuid.UUID | None = None,
        *,
        email: str | None = "pat@example.com",
        full_name: str = "Pat Practitioner",
        timezone: str | None = None,
        is_active: bool = True,
        settings: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        if workspace_id is None:
            workspace_id = await self.workspace()
        user_id = await self._insert(
            users,
            workspace_id=workspace_id,
            email=email,
            full_name=full_name,
            timezone=timezone,
            is_active=is_active,
        )
        if settings is not None:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(notification_settings).values(user_id=user_id, **settings)
                )
        return user_id

    async def client(
        self, workspace_id: uuid.UUID | None = None, full_name: str = "Casey Client"
    ) -> uuid.UUID:
        return await self._insert(clients, workspace_id=workspace_id, full_name=full_name)

    async def appointment(
        self,
        user_id: uuid.UUID,
        starts_at: datetime,
        *,
        client_id: uuid.UUID | None = None,
        status: str = "scheduled",
        location: str | None = "Room 4",
        service_name: str | None = "Consultation",
    ) -> uuid.UUID:
        return await self._insert(
            appointments,
            user_id=user_id,
            client_id=client_id,
            starts_at=starts_at,
            ends_at=starts_at,
            status=status,
            location=location,
            service_name=service_name,
        )
