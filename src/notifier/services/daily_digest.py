"""``daily_digest``: each user's scheduled appointments of the local date, at ``digest_time``.

Selection, fresh-row checks and the slot rules are shared with the notes reminder in
``services.local_time`` (its docstring explains the indexed selection). This module adds the
content: the appointments that start within the user's local date, read in one query per
batch just before sending, so a cancellation up to that moment is left out.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.content.daily_digest import DigestAppointment, digest_context
from notifier.db.schema import (
    DIGEST_DUE_COLUMNS,
    appointments,
    clients,
    local_time_schedules,
    notification_settings,
)
from notifier.rules.kinds import BY_NAME
from notifier.services.local_time import DueUser, LocalTimeKind, TickContext
from notifier.services.plan import Plan
from notifier.timemath.zones import local_day_bounds

KIND = BY_NAME["daily_digest"]

Bounds = tuple[datetime, datetime]
Context = dict[str, object]


async def prepare(
    conn: AsyncConnection, due: Sequence[DueUser], ctx: TickContext, plan: Plan
) -> None:
    """One delivery per due user, listing that user's appointments of the local date."""
    bounds: dict[DueUser, Bounds] = {}
    for item in due:
        found = local_day_bounds(item.slot.day, item.zone)
        if found is not None:  # a due slot's date exists, so this always holds
            bounds[item] = found
    rows = await _appointments(conn, bounds)
    for item, (start, end) in bounds.items():

        def build(item: DueUser = item, start: datetime = start, end: datetime = end) -> Context:
            mine = [
                _appointment(r)
                for r in rows.get(item.key.user_id, [])
                if start <= r["starts_at"] < end and r["workspace_id"] in (None, item.workspace_id)
            ]
            return digest_context(
                user_name=item.user_name,
                day=item.slot.day,
                due=item.slot.due,
                zone=item.zone,
                appointments=mine,
                base_url=ctx.base_url,
            )

        ctx.build_and_offer(plan, item, KIND, build)


async def _appointments(
    conn: AsyncConnection, bounds: dict[DueUser, Bounds]
) -> dict[uuid.UUID, list[Any]]:
    """Scheduled appointments of the batch's users over the span of their local dates."""
    if not bounds:
        return {}
    a = appointments.c
    stmt = (
        select(
            a.id,
            a.user_id,
            a.workspace_id,
            a.starts_at,
            a.location,
            a.service_name,
            clients.c.full_name.label("client_name"),
        )
        .outerjoin(clients, clients.c.id == a.client_id)
        .where(
            a.user_id.in_({item.key.user_id for item in bounds}),
            a.status == "scheduled",
            a.starts_at >= min(start for start, _ in bounds.values()),
            a.starts_at < max(end for _, end in bounds.values()),
        )
        .order_by(a.starts_at, a.id)
    )
    by_user: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in (await conn.execute(stmt)).mappings():
        by_user[row["user_id"]].append(row)
    return by_user


def _appointment(row: Any) -> DigestAppointment:
    return DigestAppointment(
        appointment_id=str(row["id"]),
        starts_at=row["starts_at"],
        client_name=row["client_name"],
        service_name=row["service_name"],
        location=row["location"],
    )


DIGEST = LocalTimeKind(
    kind=KIND.name,
    due_columns=DIGEST_DUE_COLUMNS,
    schedule_time=local_time_schedules.c.digest_time,
    schedule_skip_weekends=local_time_schedules.c.digest_skip_weekends,
    settings_enabled=notification_settings.c.digest_enabled,
    settings_time=notification_settings.c.digest_time,
    settings_skip_weekends=notification_settings.c.digest_skip_weekends,
    default_time=time(7, 0),
    prepare=prepare,
)

JOB = DIGEST.job()
run_tick = JOB.run_tick
