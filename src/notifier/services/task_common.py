"""What ``task_due``, ``task_reminder`` and ``task_overdue`` share: recipient, rules, planning.

The three kinds differ in which rows are due and in their slot; everything after that is the
same, so it lives here once: the recipient columns a fresh row needs, the "may we email this
user" rule (contract section 3: ``is_active``, ``email_enabled``, ``task_reminders_enabled``,
defaults when no settings row), turning a row into a ``Delivery`` or a recorded ``Outcome``.
The ledger filters their candidate scans use live in ``delivery.slot_filters``.

A recipient who may not be emailed gets their slot recorded ``skipped`` (not just ignored), so
each tick's scan skips it from then on and an operator can read why nothing was sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.app import Services
from notifier.channels.base import Delivery
from notifier.content.decoding import IDENTITY, Decoder
from notifier.content.task_notification import TaskFacts, task_context
from notifier.db.engine import autocommit
from notifier.db.schema import notification_settings, tasks, users, workspaces
from notifier.delivery.ledger import SlotKey
from notifier.rules.kinds import Kind
from notifier.services.batches import BatchedJob, TickInstant
from notifier.services.channel_choice import ByUser, load_preferences, quiet_columns
from notifier.services.counts import TickCounts
from notifier.services.plan import Addressee, Plan
from notifier.timemath.zones import check_in_calendar, effective_zone_name, get_zone

AfterSent = Callable[[AsyncConnection], Awaitable[None]]


def open_task(t: Any = tasks.c) -> ColumnElement[bool]:
    """The contract's "open": not completed and not deleted (matches the partial index)."""
    return and_(t.completed == False, t.deleted_at.is_(None))  # noqa: E712


def task_columns() -> list[Any]:
    """The task's values the emails show."""
    t = tasks.c
    return [
        t.id.label("task_id"),
        t.title,
        t.description,
        t.priority,
        t.due_date,
        t.completed,
        t.deleted_at,
    ]


def recipient_columns() -> list[Any]:
    """The user's address, zone and switches, with the contract's defaults for no settings row."""
    u, s = users.c, notification_settings.c
    return [
        u.email,
        u.full_name.label("user_name"),
        u.timezone.label("user_zone"),
        workspaces.c.timezone.label("workspace_zone"),
        u.is_active,
        u.workspace_id.label("recipient_workspace_id"),
        s.webhook_url,
        func.coalesce(s.email_enabled, True).label("email_enabled"),
        func.coalesce(s.task_reminders_enabled, True).label("kind_enabled"),
        *quiet_columns(),
    ]


def join_recipient(stmt: Select[Any], user_id: Any) -> Select[Any]:
    """Adds the joins ``recipient_columns`` reads, for the user in column ``user_id``."""
    return (
        stmt.join(users, users.c.id == user_id)
        .outerjoin(workspaces, workspaces.c.id == users.c.workspace_id)
        .outerjoin(notification_settings, notification_settings.c.user_id == users.c.id)
    )


def task_facts(row: Any, decoder: Decoder = IDENTITY) -> TaskFacts:
    """The task's values as the templates show them, through the host's decoder
    (``UndecodableError`` for a value it refuses: raised inside the per-row guard)."""
    facts = TaskFacts(
        task_id=str(row["task_id"]),
        title=row["title"],
        description=row["description"],
        priority=row["priority"],
        due_date=row["due_date"],
        user_name=row["user_name"],
    )
    return decoder.task(facts)


def plan_row(
    plan: Plan,
    row: Any,
    kind: Kind,
    key: SlotKey,
    who: Addressee,
    *,
    now: datetime,
    base_url: str,
    expires_at: datetime,
    after_sent: AfterSent | None = None,
    due_at: datetime | None = None,
    slot_column: str = "due_date",
    deadline: datetime | None = None,
) -> None:
    """One fresh row becomes a delivery per channel, or recorded outcomes; bad data costs
    that (slot, channel) only."""

    def make(channel_key: SlotKey, address: str | None) -> Delivery:
        zone = get_zone(effective_zone_name(row["user_zone"], row["workspace_zone"]))
        check_in_calendar(key.slot, zone, slot_column)
        context = task_context(task_facts(row, plan.decoder), zone, now, base_url)
        workspace = row["recipient_workspace_id"]
        return Delivery(channel_key, address, context, expires_at, after_sent, due_at, workspace)

    plan.offer(key, who, kind, now, make, deadline=deadline)


async def fetch_ids(services: Services, stmt: Select[Any]) -> list[uuid.UUID]:
    """Runs a candidate query (ids only) on its own short connection of the probes' engine,
    which walks indexes in order (``db.index_order``: rows these jobs finish leave their
    partial indexes)."""
    async with autocommit(services.probes) as conn:
        return list((await conn.execute(stmt)).scalars())


def state_following(
    candidates: Callable[[datetime], Select[Any]],
    process: Callable[[Services, Sequence[uuid.UUID], TickInstant], Awaitable[TickCounts]],
) -> BatchedJob:
    """A task kind's job from its candidate query and its batch step.

    These kinds follow the rows' state, not a window: a batch run late re-reads its rows at
    now on the tick's timeline.
    """

    async def due_ids(services: Services, now: datetime) -> list[uuid.UUID]:
        return await fetch_ids(services, candidates(now))

    return BatchedJob(due_ids, process)


async def fetch_rows(services: Services, stmt: Select[Any]) -> Sequence[Any]:
    """Re-reads the current state of one batch just before planning its sends."""
    async with services.engine.connect() as conn:
        return list((await conn.execute(stmt)).mappings().all())


async def fetch_batch(
    services: Services, stmt: Select[Any], kind: str
) -> tuple[Sequence[Any], ByUser]:
    """``fetch_rows`` and the batch's channel preferences of ``kind``, on one connection."""
    async with services.engine.connect() as conn:
        rows = list((await conn.execute(stmt)).mappings().all())
        return rows, await load_preferences(conn, kind, (row["user_id"] for row in rows))
