"""Writing the demo into a database, and telling the demo's rows from anybody else's.

A row is the demo's when it belongs to the workspace ``DEMO_WORKSPACE_ID`` (or to one of its
users). Re-seeding deletes exactly those rows, and the demo users' ``reminders_sent`` and
``in_app_notifications`` rows, so every ``notifier dev`` start sends its demo notifications
again and the in-app feed starts empty; nothing else is ever touched.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.db.schema import (
    appointments,
    clients,
    in_app_notifications,
    notification_preferences,
    notification_settings,
    reminders_sent,
    sessions,
    task_reminders,
    tasks,
    users,
    workspaces,
)
from notifier.dev.seed import DEMO_WORKSPACE_ID, Demo

# Parents before children, so foreign keys hold while inserting.
INSERT_ORDER: tuple[Table, ...] = (
    workspaces,
    clients,
    users,
    notification_settings,
    notification_preferences,
    appointments,
    sessions,
    tasks,
    task_reminders,
)
WORKSPACE_SCOPED: tuple[Table, ...] = (clients, users, appointments, sessions, tasks)
USER_SCOPED: tuple[Table, ...] = (notification_settings, notification_preferences, task_reminders)
# What the worker wrote for the demo users: deleted on re-seed, never counted as foreign data.
DELIVERED: tuple[Table, ...] = (reminders_sent, in_app_notifications)


def _demo_user_ids() -> Any:
    return select(users.c.id).where(users.c.workspace_id == DEMO_WORKSPACE_ID)


def _in_demo(table: Table) -> ColumnElement[bool]:
    """The rows of ``table`` that belong to the demo workspace."""
    if table is workspaces:
        return workspaces.c.id == DEMO_WORKSPACE_ID
    if table in USER_SCOPED or table in DELIVERED:
        return table.c.user_id.in_(_demo_user_ids())
    return table.c.workspace_id == DEMO_WORKSPACE_ID


def _owner(table: Table) -> Any:
    """The column that says whose a row is: the workspace, or the user for per-user tables."""
    if table is workspaces:
        return workspaces.c.id
    return table.c.user_id if table in USER_SCOPED else table.c.workspace_id


def _outside_demo(table: Table) -> ColumnElement[bool]:
    """The rows of ``table`` that are not the demo's (rows with no owner count as foreign)."""
    return or_(_owner(table).is_(None), ~_in_demo(table))


async def _delete_demo(conn: AsyncConnection) -> None:
    """Children first; task reminders of demo tasks go too, whoever they name."""
    demo_tasks = select(tasks.c.id).where(_in_demo(tasks))
    for delivered in DELIVERED:
        await conn.execute(delete(delivered).where(_in_demo(delivered)))
    await conn.execute(
        delete(task_reminders).where(
            or_(_in_demo(task_reminders), task_reminders.c.task_id.in_(demo_tasks))
        )
    )
    for table in reversed(INSERT_ORDER[:-1]):
        await conn.execute(delete(table).where(_in_demo(table)))


async def replace_demo(engine: AsyncEngine, demo: Demo) -> None:
    """Removes the previous demo and writes this one, in one transaction."""
    async with engine.begin() as conn:
        await _delete_demo(conn)
        for table in INSERT_ORDER:
            for row in demo.rows.get(table.name, []):
                await conn.execute(insert(table).values(**row))


async def _existing_tables(conn: AsyncConnection) -> set[str]:
    return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def foreign_rows(engine: AsyncEngine) -> dict[str, int]:
    """Rows per host table that are not the demo's; empty when the database is fresh."""
    found: dict[str, int] = {}
    async with engine.connect() as conn:
        existing = await _existing_tables(conn)
        for table in (t for t in INSERT_ORDER if t.name in existing):
            stmt = select(func.count()).select_from(table).where(_outside_demo(table))
            count = int(await conn.scalar(stmt) or 0)
            if count:
                found[table.name] = count
    return found
