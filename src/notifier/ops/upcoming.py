"""``notifier upcoming``: reads one user's rows and asks ``rules.upcoming`` what goes out when.

The support question is "why did I get this at 3 a.m.?", so every line gives the send time in
the user's zone and in UTC, and the report marks each change of the zone's UTC offset (a DST
transition) inside the span, next to the notes the rules attach to gaps and folds.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.config import Settings
from notifier.db.schema import appointments, reminders_sent, sessions, task_reminders, tasks
from notifier.delivery.ledger import FINAL_STATUSES
from notifier.ops.users import User, load_user
from notifier.rules.appointment_reminders import MAX_OFFSET
from notifier.rules.kinds import BY_NAME, JOB_NAMES, TASK_DUE_LEAD, TASK_REMINDER_LATENESS
from notifier.rules.upcoming import (
    Facts,
    Item,
    OffsetChange,
    Plan,
    ReminderFact,
    SlotId,
    Span,
    TaskFact,
    local_label,
    offset_changes,
    plan,
)
from notifier.services.task_common import open_task
from notifier.timemath.cron import parse_cron


@dataclass(frozen=True)
class Report:
    """What ``notifier upcoming`` prints."""

    user: User
    span: Span
    plan: Plan
    changes: list[OffsetChange]


def make_span(settings: Settings, now: datetime, hours: float) -> Span:
    """The span from ``now`` with the catch-up window and the enabled jobs' schedules."""
    schedules = {
        job: parse_cron(settings.job_schedule(job))
        for job in JOB_NAMES
        if settings.job_enabled(job)
    }
    return Span(
        now=now,
        length=timedelta(hours=hours),
        catch_up=timedelta(minutes=settings.catch_up_minutes),
        schedules=schedules,
    )


async def build_report(engine: AsyncEngine, user_id: uuid.UUID, span: Span) -> Report:
    """Plans once, then again without the slots the ledger already finished."""
    async with engine.connect() as conn:
        user = await load_user(conn, user_id)
        facts = await load_facts(conn, user, span)
        recorded = await recorded_slots(conn, user_id, plan(facts, span).items)
        held = await held_slots(conn, user_id)
    facts = dataclasses.replace(facts, recorded=recorded, held=held)
    changes = offset_changes(user.recipient.zone, span.now, span.end)
    return Report(user, span, plan(facts, span), changes)


async def load_facts(conn: AsyncConnection, user: User, span: Span) -> Facts:
    """The user's rows that can produce an email in the span."""
    user_id = user.recipient.user_id
    return Facts(
        recipient=user.recipient,
        appointments=await _appointments(conn, user_id, span),
        tasks=await _tasks(conn, user_id, span),
        reminders=await _reminders(conn, user_id, span),
        draft_count=await _drafts(conn, user_id),
    )


async def _appointments(
    conn: AsyncConnection, user_id: uuid.UUID, span: Span
) -> list[tuple[uuid.UUID, datetime]]:
    a = appointments.c
    stmt = select(a.id, a.starts_at).where(
        a.user_id == user_id,
        a.status == "scheduled",
        a.starts_at > span.now,
        a.starts_at <= span.end + timedelta(minutes=MAX_OFFSET),
    )
    return [(row.id, row.starts_at) for row in await conn.execute(stmt)]


async def _tasks(conn: AsyncConnection, user_id: uuid.UUID, span: Span) -> list[TaskFact]:
    t = tasks.c
    stmt = select(t.id, t.due_date, t.status).where(
        t.user_id == user_id,
        open_task(),
        t.due_date.is_not(None),
        t.due_date <= span.end + TASK_DUE_LEAD,
    )
    return [TaskFact(row.id, row.due_date, row.status) for row in await conn.execute(stmt)]


async def _reminders(conn: AsyncConnection, user_id: uuid.UUID, span: Span) -> list[ReminderFact]:
    r = task_reminders.c
    stmt = (
        select(r.id, r.remind_at)
        .join(tasks, tasks.c.id == r.task_id)
        .where(
            r.user_id == user_id,
            r.sent == False,  # noqa: E712  (the partial index's predicate)
            r.channel == "email",
            r.remind_at > span.now - TASK_REMINDER_LATENESS,
            r.remind_at <= span.end,
            open_task(),
        )
    )
    return [ReminderFact(row.id, row.remind_at) for row in await conn.execute(stmt)]


async def _drafts(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    s = sessions.c
    stmt = select(func.count()).where(s.user_id == user_id, s.is_draft.is_(True))
    return int(await conn.scalar(stmt) or 0)


async def recorded_slots(
    conn: AsyncConnection, user_id: uuid.UUID, items: Sequence[Item]
) -> frozenset[tuple[str, uuid.UUID, datetime]]:
    """Which of ``items``' slots the ledger has already finished (sent, skipped, failed)."""
    if not items:
        return frozenset()
    rs = reminders_sent.c
    keys = [(i.kind, i.entity_id, user_id, i.slot) for i in items]
    stmt = select(rs.kind, rs.entity_id, rs.slot).where(
        tuple_(rs.kind, rs.entity_id, rs.user_id, rs.slot).in_(keys),
        rs.status.in_(FINAL_STATUSES),
    )
    return frozenset((row.kind, row.entity_id, row.slot) for row in await conn.execute(stmt))


async def held_slots(conn: AsyncConnection, user_id: uuid.UUID) -> dict[SlotId, datetime]:
    """The user's slots the ledger holds for quiet hours, with their holds' ends."""
    rs = reminders_sent.c
    stmt = select(rs.kind, rs.entity_id, rs.slot, func.max(rs.held_until)).where(
        rs.user_id == user_id, rs.status == "pending", rs.held_until.is_not(None)
    )
    grouped = stmt.group_by(rs.kind, rs.entity_id, rs.slot)
    return {(r[0], r[1], r[2]): r[3] for r in await conn.execute(grouped)}


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def change_line(change: OffsetChange, zone: tzinfo) -> str:
    """``-- DST: clocks go forward 1:00 at 2026-03-08 03:00 EDT (07:00 UTC), UTC-05:00 → …``."""
    shift = change.after - change.before
    direction = "forward" if shift > timedelta(0) else "back"
    hours, rest = divmod(abs(int(shift.total_seconds())) // 60, 60)
    return (
        f"-- DST: clocks go {direction} {hours}:{rest:02d} at {local_label(change.at, zone)}"
        f" ({_utc(change.at)}), {_offset(change.before)} -> {_offset(change.after)} --"
    )


def item_cells(item: Item, zone: tzinfo) -> list[str]:
    entity = kind.entity if (kind := BY_NAME.get(item.kind)) else "entity"
    about = f"{entity} {item.entity_id}"
    return [local_label(item.send_at, zone), _utc(item.send_at), item.kind, about, item.note]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell; the last column is left ragged."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in [header, *rows]
    ]


def report_lines(report: Report) -> list[str]:
    """The human-readable report: items and DST changes in time order, then the notes."""
    zone, span, name = report.user.recipient.zone, report.span, report.user.zone_name
    hours = span.length.total_seconds() / 3600
    header = [f"SEND ({name})", "SEND (UTC)", "KIND", "ABOUT", "NOTE"]
    rows = table(header, [item_cells(i, zone) for i in report.plan.items])
    events = [(i.send_at, 1, row) for i, row in zip(report.plan.items, rows[1:], strict=True)]
    events += [(c.at, 0, change_line(c, zone)) for c in report.changes]
    lines = [
        f"user {report.user.recipient.user_id}, zone {name}: "
        f"what goes out from {_utc(span.now)} for {hours:g} h",
        rows[0],
        *(text for _, _, text in sorted(events)),
    ]
    if not report.plan.items:
        lines.append("(nothing goes out in this span)")
    return lines + [f"note: {note}" for note in report.plan.notes]


def report_json(report: Report) -> dict[str, Any]:
    """The same report for machines: instants in ISO 8601 UTC and local."""
    zone = report.user.recipient.zone
    return {
        "user_id": str(report.user.recipient.user_id),
        "zone": report.user.zone_name,
        "from": report.span.now.isoformat(),
        "to": report.span.end.isoformat(),
        "items": [
            {
                "send_at": item.send_at.isoformat(),
                "send_at_local": item.send_at.astimezone(zone).isoformat(),
                "due": item.due.isoformat(),
                "kind": item.kind,
                "entity_id": str(item.entity_id),
                "note": item.note,
            }
            for item in report.plan.items
        ],
        "dst_changes": [
            {
                "at": c.at.isoformat(),
                "at_local": c.at.astimezone(zone).isoformat(),
                "offset_before": _offset(c.before),
                "offset_after": _offset(c.after),
            }
            for c in report.changes
        ],
        "notes": report.plan.notes,
    }
