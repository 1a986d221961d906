"""``appointment_reminder``: select due appointments, plan their slots, hand them to dispatch.

Selection ORs one ``starts_at`` range per allowed offset (see ``rules.appointment_reminders``)
over a partial index on scheduled appointments, so a tick costs what is due, not the table.
Rows are re-read per batch just before sending, so a cancellation or a disabled setting that
lands mid-tick still takes effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.app import Services
from notifier.channels.base import Delivery
from notifier.content.appointment_reminder import AppointmentFacts, reminder_context
from notifier.content.decoding import IDENTITY, Decoder
from notifier.db.engine import autocommit
from notifier.db.id_lists import among
from notifier.db.schema import appointments, clients, notification_settings, users, workspaces
from notifier.delivery.ledger import SlotKey
from notifier.rules.appointment_reminders import (
    NOTHING_HELD,
    BadOffsetsError,
    due_offsets,
    event_windows,
    parse_offsets,
    quiet_held,
)
from notifier.rules.kinds import BY_NAME, EMAIL
from notifier.services import tick_marks
from notifier.services.batches import BatchedJob, TickInstant
from notifier.services.channel_choice import (
    Addressees,
    load_preferences,
    new_plan,
    quiet_columns,
)
from notifier.services.counts import TickCounts
from notifier.services.dispatch import dispatch
from notifier.services.held_slots import held_ids_and_mark, held_slots, merged, quiet_set
from notifier.services.plan import Addressee, Plan, plan_each
from notifier.timemath.windows import Window, catch_up_window
from notifier.timemath.zones import effective_zone_name, get_zone

KIND = BY_NAME["appointment_reminder"]
log = structlog.get_logger("notifier.appointment_reminders")


def _window(services: Services, now: datetime) -> Window:
    return catch_up_window(now, timedelta(minutes=services.settings.catch_up_minutes))


async def due_ids(services: Services, now: datetime) -> list[uuid.UUID]:
    """The tick's selection half: appointments with a reminder due at ``now``.

    One read, so autocommit: no BEGIN and ROLLBACK round trips around it.
    """
    window = _window(services, now)
    async with autocommit(services.engine) as conn:
        due = await candidate_ids(conn, window, now)
        held, mark = await held_ids_and_mark(conn, KIND.name, window)
        gap = tick_marks.unseen(window, mark)
        if gap is not None:
            due = merged(due, await quiet_candidate_ids(conn, gap, now))
        await tick_marks.record(conn, KIND.name, window, mark)
        return merged(due, held)


async def process_batch(
    services: Services, ids: Sequence[uuid.UUID], tick: TickInstant
) -> TickCounts:
    """The sending half: the tick's window, checked against now on the tick's timeline."""
    now = tick.current(services.clock)
    return await _process(services, ids, _window(services, tick.instant), now)


async def candidate_ids(conn: AsyncConnection, window: Window, now: datetime) -> list[uuid.UUID]:
    """Scheduled, not yet started appointments with some offset due in ``window``.

    Deliberately the plain ranges, without the other kinds' check that a slot is not yet done:
    a reminder sent is selected again by the rest of the window's ticks, and its batch finds
    the claim taken (``already_done``). Measured at a million users (runbook, "Capacity"):
    checking the user's offsets and the ledger per appointment in range cost ~16 µs a row
    (20–50 ms a tick at 8 appointments a minute, against 3.5 ms), and PostgreSQL's generic
    plan for it, from a prepared statement's sixth run, took seconds.
    """
    a = appointments.c
    ranges = [and_(a.starts_at > w.start, a.starts_at <= w.end) for w in event_windows(window)]
    stmt = (
        select(a.id)
        .where(a.status == "scheduled", a.starts_at > now, or_(*ranges))
        .order_by(a.starts_at)
    )
    return list((await conn.execute(stmt)).scalars())


async def quiet_candidate_ids(
    conn: AsyncConnection, unseen: Window, now: datetime
) -> list[uuid.UUID]:
    """Appointments not yet started of users with quiet hours, with some offset due in
    ``unseen`` (a stretch no tick looked at): the period that held one may end in this
    tick's window (``rules.appointment_reminders.quiet_held`` decides on the fresh row)."""
    a, n = appointments.c, notification_settings.c
    ranges = [and_(a.starts_at > w.start, a.starts_at <= w.end) for w in event_windows(unseen)]
    stmt = (
        select(a.id)
        .join(notification_settings, n.user_id == a.user_id)
        .where(a.status == "scheduled", a.starts_at > now, or_(*ranges), *quiet_set())
        .order_by(a.starts_at)
    )
    return list((await conn.execute(stmt)).scalars())


def row_query(ids: Sequence[uuid.UUID], dialect_name: str) -> Any:
    """The given appointments joined to everything the email and the send rules read.

    Also used by ``notifier preview``, which shows the email whatever the switches say.
    """
    a, u, s = appointments.c, users.c, notification_settings.c
    return (
        select(
            a.id,
            a.user_id,
            a.starts_at,
            a.status,
            a.location,
            a.service_name,
            clients.c.full_name.label("client_name"),
            u.email,
            u.full_name.label("user_name"),
            u.timezone.label("user_zone"),
            workspaces.c.timezone.label("workspace_zone"),
            s.appointment_reminder_minutes.label("minutes"),
            u.is_active,
            u.workspace_id.label("recipient_workspace_id"),
            s.webhook_url,
            func.coalesce(s.email_enabled, True).label("email_enabled"),
            func.coalesce(s.appointment_reminders_enabled, True).label("kind_enabled"),
            *quiet_columns(),
        )
        .join(users, u.id == a.user_id)
        .outerjoin(workspaces, workspaces.c.id == u.workspace_id)
        .outerjoin(notification_settings, s.user_id == u.id)
        .outerjoin(clients, clients.c.id == a.client_id)
        .where(among(a.id, ids, dialect_name))
    )


def _fresh_rows_query(ids: Sequence[uuid.UUID], now: datetime, dialect_name: str) -> Any:
    """Current state of the given appointments, if a reminder may still be sent for them;
    whether their user may get it is the recipient policy's (``plan_row``)."""
    a = appointments.c
    return row_query(ids, dialect_name).where(a.status == "scheduled", a.starts_at > now)


async def _process(
    services: Services, ids: Sequence[uuid.UUID], window: Window, now: datetime
) -> TickCounts:
    async with services.engine.connect() as conn:
        query = _fresh_rows_query(ids, now, conn.dialect.name)
        rows = (await conn.execute(query)).mappings().all()
        preferences = await load_preferences(conn, KIND.name, (row["user_id"] for row in rows))
        held = await held_slots(conn, KIND.name, ids, window)
    recipients = Addressees(services, KIND.name, preferences)
    plan = new_plan(services)
    catch_up = timedelta(minutes=services.settings.catch_up_minutes)
    base_url = services.settings.app_base_url

    def plan_one(row: Any) -> None:
        who = recipients.of(row, row["user_id"])
        mine = held.get(row["id"], NOTHING_HELD)
        plan_row(
            row, plan, who, window=window, now=now, catch_up=catch_up, base_url=base_url, held=mine
        )

    plan_each(rows, plan_one, lambda row: row["id"])
    return await dispatch(services, plan.deliveries, plan.outcomes, now=now)


def plan_row(
    row: Any,
    plan: Plan,
    who: Addressee,
    *,
    window: Window,
    now: datetime,
    catch_up: timedelta,
    base_url: str,
    held: Mapping[datetime, datetime] = NOTHING_HELD,
) -> None:
    """Turns one fresh row into deliveries and recorded outcomes, per channel; bad data costs
    its row only. ``held`` are its slots held for quiet hours, with their holds' ends."""
    try:
        offsets = parse_offsets(row["minutes"])
    except BadOffsetsError as exc:
        for channel in who.channels:
            plan.fail(_key(row, row["starts_at"], channel), str(exc))
        return
    held = {**quiet_held(row["starts_at"], offsets, window, who.state), **held}
    for due in due_offsets(row["starts_at"], offsets, window, now, held):
        if not due.send:
            for channel in who.channels:
                plan.skip(_key(row, due.slot, channel), "a smaller offset was due in the same tick")
            continue

        def make(key: SlotKey, address: str | None, due: datetime = due.due) -> Delivery:
            facts = appointment_facts(row, plan.decoder)
            return _delivery(
                facts, row, key, address, due, now=now, catch_up=catch_up, base=base_url
            )

        plan.offer(_key(row, due.slot), who, KIND, now, make, deadline=row["starts_at"])


def _key(row: Any, slot: datetime, channel: str = EMAIL) -> SlotKey:
    return SlotKey(KIND.name, row["id"], row["user_id"], slot, channel)


def _delivery(
    facts: AppointmentFacts,
    row: Any,
    key: SlotKey,
    address: str | None,
    due: datetime,
    *,
    now: datetime,
    catch_up: timedelta,
    base: str,
) -> Delivery:
    """The reminder on one channel; its catch-up window runs from ``due`` (the slot, or the
    end of the quiet period that held it) and never past the appointment's start. ``facts``
    are the row's, decoded."""
    zone = get_zone(effective_zone_name(row["user_zone"], row["workspace_zone"]))
    return Delivery(
        key=key,
        address=address,
        context=reminder_context(facts, zone, now, base),
        expires_at=min(due + catch_up, row["starts_at"]),
        due_at=due,
        workspace_id=row["recipient_workspace_id"],
    )


def appointment_facts(row: Any, decoder: Decoder = IDENTITY) -> AppointmentFacts:
    """The values of one ``row_query`` row that the email shows, through the host's decoder
    (``UndecodableError`` for a value it refuses: raised inside the per-row guard)."""
    facts = AppointmentFacts(
        appointment_id=str(row["id"]),
        starts_at=row["starts_at"],
        client_name=row["client_name"],
        service_name=row["service_name"],
        location=row["location"],
        user_name=row["user_name"],
    )
    return decoder.appointment(facts)


JOB = BatchedJob(due_ids, process_batch)
run_tick = JOB.run_tick
