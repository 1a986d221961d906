"""``notes_reminder``: at ``notes_reminder_time`` on each local date, the number of drafts.

Selection, fresh-row checks and the slot rules are shared with the digest in
``services.local_time``. A user with no draft session is recorded ``skipped`` for the date
(contract section 3), which also keeps later ticks of the window from selecting them again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import time
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.content.decoding import Decoder
from notifier.content.notes_reminder import notes_context
from notifier.db.id_lists import among
from notifier.db.schema import (
    NOTES_DUE_COLUMNS,
    local_time_schedules,
    notification_settings,
    sessions,
)
from notifier.rules.kinds import BY_NAME
from notifier.rules.local_time_slots import EVERY_DAY
from notifier.services.local_time import DueUser, LocalTimeKind, TickContext
from notifier.services.next_send import CopySchedule
from notifier.services.plan import Plan

KIND = BY_NAME["notes_reminder"]


async def prepare(
    conn: AsyncConnection, due: Sequence[DueUser], ctx: TickContext, plan: Plan
) -> None:
    """A delivery per due user with drafts; ``skipped`` for those without any."""
    counts = await draft_counts(conn, {item.key.user_id for item in due})
    for item in due:
        drafts = counts.get(item.key.user_id, 0)
        if drafts == 0:
            plan.skip_all(item.key, item.who, "no draft session notes")
            continue
        build = partial(
            _context,
            plan.decoder,
            user_name=item.user_name,
            day=item.slot.day,
            due=item.slot.due,
            zone=item.zone,
            draft_count=drafts,
            base_url=ctx.base_url,
        )
        ctx.build_and_offer(plan, item, KIND, build)


def _context(decoder: Decoder, *, user_name: str | None, **rest: Any) -> dict[str, object]:
    """``notes_context`` with the user's name decoded (``CONTENT_DECODER``): called under
    ``build_and_offer``'s per-row guard, so a name that fails to decode costs that slot."""
    return notes_context(user_name=decoder.user_name(user_name), **rest)


async def draft_counts(conn: AsyncConnection, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Draft sessions per user, whatever their age, through the partial draft index."""
    if not user_ids:
        return {}
    s = sessions.c
    stmt = (
        select(s.user_id, func.count())
        .where(s.is_draft.is_(True), among(s.user_id, list(user_ids), conn.dialect.name))
        .group_by(s.user_id)
    )
    return {user_id: int(count) for user_id, count in (await conn.execute(stmt)).all()}


_COPY = local_time_schedules.c

NOTES = LocalTimeKind(
    copy=CopySchedule(
        kind=KIND.name,
        next=_COPY.notes_reminder_next,
        time=_COPY.notes_reminder_time,
        day_columns=(),
        days=lambda: EVERY_DAY,
        due_columns=NOTES_DUE_COLUMNS,
    ),
    schedule_days="true",
    settings_enabled=notification_settings.c.notes_reminder_enabled,
    settings_time=notification_settings.c.notes_reminder_time,
    settings_days=(),
    days_of=lambda: EVERY_DAY,
    default_time=time(18, 0),
    prepare=prepare,
)

JOB = NOTES.job()
run_tick = JOB.run_tick
