"""Tasks and task reminders the way a host application writes them, and reading them back."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.schema import task_reminders, tasks, users
from tests.support.data import Data
from tests.support.servers import free_port


class TaskData(Data):
    """``Data`` plus the task tables."""

    async def task(
        self,
        user_id: uuid.UUID,
        due_date: datetime | None,
        *,
        title: str = "Write the quarterly report",
        **columns: Any,
    ) -> uuid.UUID:
        """An open task of ``user_id`` in the user's workspace; ``columns`` override any column."""
        async with self.engine.connect() as conn:
            workspace_id = await conn.scalar(
                select(users.c.workspace_id).where(users.c.id == user_id)
            )
        columns.setdefault("workspace_id", workspace_id)
        return await self._insert(tasks, user_id=user_id, due_date=due_date, title=title, **columns)

    async def reminder(
        self,
        task_id: uuid.UUID,
        user_id: uuid.UUID,
        remind_at: datetime,
        **columns: Any,
    ) -> uuid.UUID:
        """A ``task_reminders`` row, unsent unless ``columns`` say otherwise."""
        return await self._insert(
            task_reminders, task_id=task_id, user_id=user_id, remind_at=remind_at, **columns
        )

    async def update_task(self, task_id: uuid.UUID, **values: Any) -> None:
        """What the host does when a user edits, completes or deletes a task."""
        async with self.engine.begin() as conn:
            await conn.execute(update(tasks).where(tasks.c.id == task_id).values(**values))

    async def get_task(self, task_id: uuid.UUID) -> Any:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).mappings()
            return row.one()

    async def children(self, parent_id: uuid.UUID) -> list[Any]:
        """Tasks whose ``parent_task_id`` is ``parent_id``, by due date."""
        stmt = select(tasks).where(tasks.c.parent_task_id == parent_id).order_by(tasks.c.due_date)
        async with self.engine.connect() as conn:
            return list((await conn.execute(stmt)).mappings().all())

    async def all_tasks(self) -> list[Any]:
        async with self.engine.connect() as conn:
            stmt = select(tasks).order_by(tasks.c.due_date)
            return list((await conn.execute(stmt)).mappings().all())

    async def get_reminder(self, reminder_id: uuid.UUID) -> Any:
        stmt = select(task_reminders).where(task_reminders.c.id == reminder_id)
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).mappings().one()


@contextlib.asynccontextmanager
async def smtp_down(settings: Settings) -> AsyncIterator[Services]:
    """Services whose SMTP port has no server: every send is a transient failure."""
    down = open_services(
        settings.model_copy(update={"smtp_port": free_port(), "smtp_max_attempts": 1}),
        lambda: datetime.now(UTC),
    )
    try:
        yield down
    finally:
        await close_services(down)
