"""Re-send one recorded slot on purpose: ``notifier resend`` and the console (contract §11).

The re-send is the kind's own batch step (``process_batch``) run for that one entity, at the
instant the slot fell due (``replay_instant``), after the slot's ledger row is taken away.
So every check of the current state a tick makes (a cancelled appointment, a completed task,
a switch turned off, the recipient policy, the channel's address) is made again by the same
code, the message is rendered by the same code as it was then (times "in 1 hour" read as at
its due instant), and the ``Message-ID`` / ``webhook-id``, derived from the slot's key, are
the same. The send happens now, whatever the window says: the dispatcher measures what is left
of a slot's window from the replayed instant.

Only the asked channel may go out: the slot's other channels that have no row yet are held by
placeholder rows while the batch runs (removed after), so a preference switched on since does
not make the re-send reach a second channel. A kind with a lasting mark of its own
(``task_reminders.sent``, ``tasks.status = 'overdue'``) has it reset first, as the runbook's
manual recipe did, so its fresh-row query sees the slot as due again.

When the batch plans nothing for the slot (the appointment was cancelled, the task deleted or
moved, the date is no longer one of the user's days), or decides not to send it (the recipient
policy's ``skipped``, a quiet-hours hold, a row its plan refused), the slot's old row and the
kind's mark are put back as they were and the answer says why nothing went out. Only a send
actually tried (``sent``, or a send that failed) leaves its new row.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.app import Services
from notifier.db.schema import reminders_sent, task_reminders, tasks
from notifier.delivery.ledger import SlotKey, row_values
from notifier.jobs.registry import batched_jobs
from notifier.ops.users import UserNotFoundError, load_user
from notifier.rules.kinds import (
    BY_NAME,
    CHANNELS,
    FIRST_CLAIM,
    IN_APP,
    LOCAL_DATE,
    TASK_DUE_LEAD,
    Kind,
)
from notifier.services.batches import TickInstant
from notifier.timemath.zones import local_to_utc

log = structlog.get_logger("notifier.resend")
ONE_MICROSECOND = timedelta(microseconds=1)
PLACEHOLDER = "held by a re-send of another channel of this slot"
# An in-app slot recorded sent has its row in in_app_notifications, unique per slot: the host
# shows that row; writing "sent" again would name a row that is never written.
IN_APP_SHOWN = "an in-app notification recorded sent is already in the user's feed; nothing to send"
NOTHING_PLANNED = (
    "not re-sent: under the current state nothing is due for this slot (the {entity} was "
    "cancelled, completed, deleted or moved, or the setting no longer makes this slot due); "
    "its row is as it was"
)


class ResendError(ValueError):
    """A request that cannot be carried out; ``field`` names the part that is wrong."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass(frozen=True)
class ResendResult:
    """What happened: whether a message went out, why not, and the slot's row now."""

    resent: bool
    reason: str | None
    row: Mapping[str, Any]


Restore = Callable[[AsyncConnection], Awaitable[None]]


def replay_instant(kind: Kind, slot: datetime, local_due: datetime | None) -> datetime | None:
    """The instant at which the kind's own rules find this slot due (pure).

    Local-time kinds (slot = the local date) are due at the user's time that date; the
    overdue notice once its due date has passed; ``task_due`` while the due date is within its
    lead; every other kind at its slot.
    """
    if kind.reselect == LOCAL_DATE:
        return local_due
    if kind.anchor == FIRST_CLAIM:
        return slot + ONE_MICROSECOND
    if kind.window is None:
        return slot - TASK_DUE_LEAD
    return slot


async def _local_due(conn: AsyncConnection, kind: Kind, key: SlotKey) -> datetime | None:
    """The local-time kind's due instant on the slot's local date, from the user's current
    time setting and zone (``<switch>`` ``_enabled`` is paired with ``_time``)."""
    try:
        user = await load_user(conn, key.user_id)
    except UserNotFoundError:
        return None
    at = getattr(user.recipient, kind.switch.replace("_enabled", "_time"), None)
    if at is None:
        return None
    return local_to_utc(key.slot.date(), at, user.recipient.zone)


def _match(key: SlotKey) -> list[Any]:
    rs = reminders_sent.c
    return [
        rs.kind == key.kind,
        rs.entity_id == key.entity_id,
        rs.user_id == key.user_id,
        rs.slot == key.slot,
        rs.channel == key.channel,
    ]


async def slot_row(conn: AsyncConnection, key: SlotKey) -> dict[str, Any] | None:
    """The slot's ledger row, every column, or None."""
    row = (await conn.execute(select(reminders_sent).where(*_match(key)))).mappings().first()
    return dict(row) if row is not None else None


def check_key(key: SlotKey) -> None:
    """Refuses a kind or channel this build does not send (field named)."""
    if key.kind not in BY_NAME:
        raise ResendError("kind", f"kind must be one of {', '.join(BY_NAME)}")
    if key.channel not in CHANNELS:
        raise ResendError("channel", f"channel must be one of {', '.join(CHANNELS)}")


async def resend(services: Services, key: SlotKey) -> ResendResult:
    """Re-sends the slot now, after the current-state checks of any send (module docstring)."""
    check_key(key)
    kind = BY_NAME[key.kind]
    async with services.engine.connect() as conn:
        old = await slot_row(conn, key)
        if old is None:
            raise ResendError("slot", "no such slot: nothing was ever recorded for it", 404)
        if old["status"] == "pending":
            raise ResendError("slot", "the slot is pending (being sent, or held)", 409)
        if key.channel == IN_APP and old["status"] == "sent":
            raise ResendError("channel", IN_APP_SHOWN, 409)
        local_due = await _local_due(conn, kind, key) if kind.reselect == LOCAL_DATE else None
    # A slot quiet hours held became due at its hold's end (contract section 10): replayed
    # there, not inside the period, where the policy would hold it again.
    at = old["held_until"] or replay_instant(kind, key.slot, local_due)
    if at is None:
        return ResendResult(False, NOTHING_PLANNED.format(entity=kind.entity), old)
    return await _replay(services, kind, key, old, at)


async def _replay(
    services: Services, kind: Kind, key: SlotKey, old: Mapping[str, Any], at: datetime
) -> ResendResult:
    async with services.engine.begin() as conn:
        await conn.execute(delete(reminders_sent).where(reminders_sent.c.id == old["id"]))
        if old["held_until"] is not None:  # found again as the hold it was (held_slots)
            await conn.execute(insert(reminders_sent).values(**_hold_again(key, old, at)))
        restore_mark = await _reset_mark(conn, kind, key)
        held = await _hold_other_channels(conn, key, services.clock())
    try:
        job = batched_jobs()[kind.job]
        await job.process_batch(services, [key.entity_id], TickInstant(at))
    finally:
        async with services.engine.begin() as conn:
            await conn.execute(delete(reminders_sent).where(reminders_sent.c.id.in_(held)))
    return await _answer(services, kind, key, old, restore_mark)


async def _answer(
    services: Services, kind: Kind, key: SlotKey, old: Mapping[str, Any], restore: Restore
) -> ResendResult:
    """The new row when a send was attempted; otherwise (nothing planned, skipped by the
    policy, held, a row the plan refused) the old row and the kind's mark put back, with why."""
    async with services.engine.begin() as conn:
        new = await slot_row(conn, key)
        if new is not None and attempted(new):
            outcome = ResendResult(new["status"] == "sent", why_not(new), new)
        else:
            if new is not None:
                await conn.execute(delete(reminders_sent).where(reminders_sent.c.id == new["id"]))
            await conn.execute(insert(reminders_sent).values(**old))
            await restore(conn)
            reason = why_not(new) if new else NOTHING_PLANNED.format(entity=kind.entity)
            outcome = ResendResult(False, reason, old)
    _log(key, outcome)
    return outcome


def attempted(row: Mapping[str, Any]) -> bool:
    """Whether the replay tried to deliver (sent, or a send that failed), not merely decided
    (pure)."""
    if row["status"] == "sent":
        return True
    return row["attempts"] > 0 and row.get("held_until") is None


def why_not(row: Mapping[str, Any]) -> str | None:
    """Why a replayed slot's row is not ``sent``: its recorded reason, or the hold (pure)."""
    if row["status"] == "sent":
        return None
    if row.get("held_until") is not None:
        return f"held by the recipient's quiet hours until {row['held_until'].isoformat()}"
    return f"not re-sent ({row['status']}): {row['last_error'] or 'no reason recorded'}"


def _log(key: SlotKey, outcome: ResendResult) -> None:
    log.info(
        "resend",
        kind=key.kind,
        entity_id=str(key.entity_id),
        user_id=str(key.user_id),
        channel=key.channel,
        resent=outcome.resent,
        status=outcome.row["status"],
    )


async def _hold_other_channels(
    conn: AsyncConnection, key: SlotKey, now: datetime
) -> list[uuid.UUID]:
    """Placeholder rows on the slot's other channels that have none, so only ``key.channel``
    can be claimed by the replayed batch; returns their ids, removed after it."""
    rs = reminders_sent.c
    base = [rs.kind == key.kind, rs.entity_id == key.entity_id, rs.user_id == key.user_id]
    found = await conn.execute(select(rs.channel).where(*base, rs.slot == key.slot))
    taken = set(found.scalars()) | {key.channel}
    rows = [_placeholder(key.on(channel), now) for channel in CHANNELS if channel not in taken]
    if rows:
        await conn.execute(insert(reminders_sent), rows)
    return [row["id"] for row in rows if isinstance(row["id"], uuid.UUID)]


def _hold_again(key: SlotKey, old: Mapping[str, Any], end: datetime) -> dict[str, object]:
    """The slot as its quiet-hours hold left it, ended: what the replayed tick finds."""
    reason = f"held for quiet hours until {end.isoformat()}"
    return row_values(
        key, "pending", old["created_at"], last_error=reason, held_until=end, lease_until=end
    )


def _placeholder(key: SlotKey, now: datetime) -> dict[str, object]:
    return row_values(key, "skipped", now, last_error=PLACEHOLDER)


async def _reset_mark(conn: AsyncConnection, kind: Kind, key: SlotKey) -> Restore:
    """Clears the kind's own lasting mark of the slot (if it has one); returns how to put it
    back."""
    if kind.name == "task_reminder":
        return await _reset_reminder_sent(conn, key.entity_id)
    if kind.name == "task_overdue":
        return await _reset_overdue(conn, key.entity_id)
    return _nothing


async def _nothing(conn: AsyncConnection) -> None:
    """No mark to put back."""


async def _reset_reminder_sent(conn: AsyncConnection, reminder_id: uuid.UUID) -> Restore:
    """``task_reminders.sent`` back to false: the reminder's fresh-row query reads only
    unsent rows."""
    r = task_reminders.c
    found = (await conn.execute(select(r.sent, r.sent_at).where(r.id == reminder_id))).first()
    await conn.execute(update(task_reminders).where(r.id == reminder_id).values(sent=False))

    async def restore(again: AsyncConnection) -> None:
        if found is not None:
            values = {"sent": found.sent, "sent_at": found.sent_at}
            await again.execute(update(task_reminders).where(r.id == reminder_id).values(values))

    return restore


async def _reset_overdue(conn: AsyncConnection, task_id: uuid.UUID) -> Restore:
    """An ``overdue`` task back to ``open``: the scanner reads only tasks not yet marked, and
    marks it again once the slot is final."""
    t = tasks.c
    stmt = update(tasks).where(t.id == task_id, t.status == "overdue").values(status="open")
    changed = (await conn.execute(stmt)).rowcount

    async def restore(again: AsyncConnection) -> None:
        if changed:
            reopened = update(tasks).where(t.id == task_id, t.status == "open")
            await again.execute(reopened.values(status="overdue"))

    return restore
