"""Host rows for the digest and notes-reminder tests, on top of the shared ``Data`` helper."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import delete, insert, select, update

from notifier.db.schema import (
    appointments,
    local_time_schedules,
    notification_settings,
    sessions,
    users,
    workspaces,
)
from tests.support.data import Data
from tests.support.smtp import Captured

# The copy's schedule as the host's rows give it; ``*_next`` are the ticks' own.
SCHEDULE_COLUMNS = [c for c in local_time_schedules.c if not c.name.endswith("_next")]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def midnight(day: date) -> datetime:
    """The ledger slot of a local date."""
    return datetime.combine(day, time(0), tzinfo=UTC)


class LocalTimeData(Data):
    """Adds workspace-scoped appointments, sessions, and edits of users and settings."""

    async def digest_user(
        self, timezone: str | None, workspace_id: uuid.UUID | None = None, **settings: Any
    ) -> uuid.UUID:
        """A user with the daily digest switched on (07:00 unless ``digest_time`` is given)."""
        return await self.user(
            workspace_id, timezone=timezone, settings={"digest_enabled": True, **settings}
        )

    async def notes_user(
        self, timezone: str | None, workspace_id: uuid.UUID | None = None, **settings: Any
    ) -> uuid.UUID:
        """A user with the notes reminder switched on (18:00 unless a time is given)."""
        return await self.user(
            workspace_id, timezone=timezone, settings={"notes_reminder_enabled": True, **settings}
        )

    async def appointment_in(
        self,
        workspace_id: uuid.UUID | None,
        user_id: uuid.UUID,
        starts_at: datetime,
        **values: Any,
    ) -> uuid.UUID:
        """An appointment that names its workspace, as the host application writes them."""
        values.setdefault("status", "scheduled")
        values.setdefault("location", "Room 4")
        values.setdefault("service_name", "Consultation")
        return await self._insert(
            appointments,
            workspace_id=workspace_id,
            user_id=user_id,
            starts_at=starts_at,
            ends_at=starts_at,
            **values,
        )

    async def session(
        self, user_id: uuid.UUID, *, is_draft: bool = True, updated_at: datetime | None = None
    ) -> uuid.UUID:
        return await self._insert(
            sessions,
            user_id=user_id,
            is_draft=is_draft,
            updated_at=updated_at or datetime(2026, 1, 1, tzinfo=UTC),
        )

    async def workspace_of(self, user_id: uuid.UUID) -> uuid.UUID:
        async with self.engine.connect() as conn:
            found = await conn.scalar(select(users.c.workspace_id).where(users.c.id == user_id))
        assert isinstance(found, uuid.UUID)
        return found

    async def _update(self, table: Any, where: Any, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(table).where(where).values(**values))

    async def set_user(self, user_id: uuid.UUID, **values: Any) -> None:
        await self._update(users, users.c.id == user_id, **values)

    async def set_workspace(self, workspace_id: uuid.UUID, **values: Any) -> None:
        await self._update(workspaces, workspaces.c.id == workspace_id, **values)

    async def set_settings(self, user_id: uuid.UUID, **values: Any) -> None:
        await self._update(
            notification_settings, notification_settings.c.user_id == user_id, **values
        )

    async def add_settings(self, user_id: uuid.UUID, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(notification_settings).values(user_id=user_id, **values))

    async def drop_settings(self, user_id: uuid.UUID) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(notification_settings).where(notification_settings.c.user_id == user_id)
            )

    async def schedule(self, user_id: uuid.UUID) -> dict[str, Any] | None:
        """The worker's trigger-maintained copy of the user's zone and times (not the
        next-send instants ticks compute: ``next_sends``)."""
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(*SCHEDULE_COLUMNS).where(local_time_schedules.c.user_id == user_id)
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None

    async def next_sends(self, user_id: uuid.UUID) -> tuple[datetime, datetime, datetime]:
        """The copy's next-send instants of the digest, notes reminder and weekly report."""
        c = local_time_schedules.c
        stmt = select(c.digest_next, c.notes_reminder_next, c.weekly_report_next)
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt.where(c.user_id == user_id))).one()
        return row[0], row[1], row[2]


def parts(captured: Captured) -> tuple[str, str, str]:
    """Subject, text body and HTML body of a captured email."""
    msg = captured.parsed()
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return str(msg["Subject"]), str(text.get_content()), str(html.get_content())
