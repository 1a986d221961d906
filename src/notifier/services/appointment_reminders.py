"""``appointment_reminder``: select due appointments, plan their slots, hand them to dispatch.

Selection reads one ``starts_at`` range per allowed offset (see ``rules.appointment_reminders``)
from a partial index on scheduled appointments, so a tick costs what is due, not the table.
Rows are re-read per batch just before sending, so a cancellation or a disabled setting that
lands mid-tick still takes effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import structlog
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.app import Services
from notifier.channels.base import Delivery
from notifier.content.appointment_reminder import AppointmentFacts, reminder_context
from notifier.content.decoding import IDENTITY, Decoder
from notifier.db.engine import autocommit, host_schema, own_schema, qualified
from notifier.db.id_lists import among
from notifier.db.inline_constants import inline
from notifier.db.schema import appointments, clients, notification_settings, users, workspaces
from notifier.delivery.ledger import SlotKey
from notifier.rules.appointment_reminders import (
    ALLOWED_OFFSETS,
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
from notifier.services.held_slots import (
    held_entity_ids,
    held_ids_sql,
    held_slots,
    merged,
    quiet_set,
)
from notifier.services.plan import Addressee, Plan, plan_each
from notifier.timemath.windows import Window, catch_up_window
from notifier.timemath.zones import effective_zone_name, get_zone

KIND = BY_NAME["appointment_reminder"]
log = structlog.get_logger("notifier.appointment_reminders")


def _window(services: Services, now: datetime) -> Window:
    return catch_up_window(now, timedelta(minutes=services.settings.catch_up_minutes))


async def due_ids(services: Services, now: datetime) -> list[uuid.UUID]:
    """The tick's selection half: appointments with a reminder due at ``now``.

    One read, so autocommit: no BEGIN and ROLLBACK round trips around it; on the probes'
    engine (``db.index_order``), whose sessions walk the index and start no parallel workers.
    Its connection is given back before the look-back and the mark take another: behind a
    transaction-mode pooler, a connection held while waiting for a second one can deadlock
    workers that share a few server connections.
    """
    window = _window(services, now)
    async with autocommit(services.probes) as conn:
        due, held, mark = await _selection(conn, window, now)
    gap = tick_marks.unseen(window, mark)
    if gap is not None:
        due = merged(due, await _quiet_candidates(services, gap, now))
    await tick_marks.record_on(services.probes, KIND.name, window, mark)
    return merged(due, held)


async def _quiet_candidates(services: Services, gap: Window, now: datetime) -> list[uuid.UUID]:
    """``quiet_candidate_ids`` on the main engine: its ranges joined to the settings are
    best read through a bitmap, which the probes' sessions do not take."""
    async with autocommit(services.engine) as conn:
        return await quiet_candidate_ids(conn, gap, now)


async def process_batch(
    services: Services, ids: Sequence[uuid.UUID], tick: TickInstant
) -> TickCounts:
    """The sending half: the tick's window, checked against now on the tick's timeline."""
    now = tick.current(services.clock)
    return await _process(services, ids, _window(services, tick.instant), now)


async def _selection(
    conn: AsyncConnection, window: Window, now: datetime
) -> tuple[list[uuid.UUID], list[uuid.UUID], datetime | None]:
    """The appointments with an offset due, those with a slot whose hold ends in ``window``,
    and the kind's mark (``services.tick_marks``): one round trip on PostgreSQL, where an
    idle tick is this and its ``job_runs`` row."""
    if conn.dialect.name != "postgresql":
        held = await held_entity_ids(conn, KIND.name, window)
        mark = await tick_marks.looked_until(conn, KIND.name)
        return await candidate_ids(conn, window, now), held, mark
    sql = _selection_sql(own_schema(conn), host_schema(conn))
    result = await conn.exec_driver_sql(sql, (KIND.name, *_selection_params(window, now)))
    rows: Sequence[Any] = result.all()
    due = list(dict.fromkeys(row[2] for row in rows if row[1] == _DUE))
    held = [row[2] for row in rows if row[1] == _HELD]
    return due, held, rows[0][0]


def _selection_params(window: Window, now: datetime) -> tuple[object, ...]:
    """The window, now and each range's ends: ``$2`` onwards of ``_selection_sql``, of which
    all but the first two are ``_candidates_sql``'s."""
    ends = [end for w in event_windows(window) for end in (w.start, w.end)]
    return window.start, window.end, now, *ends


# What a row of ``_selection_sql`` names: an appointment due, or one with a held slot.
_DUE, _HELD = 0, 1


@cache
def _selection_sql(own: str | None, host: str | None) -> str:
    """The kind's mark, beside each candidate (part ``_DUE``, by ``starts_at``) and each held
    entity (part ``_HELD``); ``$1`` the kind, ``$2`` and ``$3`` the window."""
    candidates = _candidates_sql(host, first=4)
    return (
        "SELECT m.looked_until, c.part, c.id FROM (SELECT 1) AS one"
        f" LEFT JOIN {qualified(own, 'tick_marks')} AS m ON m.kind = $1"
        f" LEFT JOIN LATERAL (SELECT {_DUE} AS part, d.id, d.at FROM ({candidates}) AS d"
        f" UNION ALL SELECT {_HELD}, h.entity_id, NULL FROM ({held_ids_sql(own)}) AS h"
        ") AS c ON true ORDER BY c.part, c.at"
    )


@cache
def _candidates_sql(host: str | None, first: int = 1) -> str:
    """``candidate_query`` as text for PostgreSQL: parameter ``first`` is now, the next ones
    each range's ends. Each range is its own ordered walk of the partial index of scheduled
    appointments, whose predicate it names (``db.inline_constants``), so a generic plan can
    serve it too. Ranges of neighbouring offsets overlap: an appointment may come twice.

    Not one join to the ranges as an array: its plan, costed for ranges of unknown width,
    read every scheduled appointment still to come (~370 ms at a million, measured)."""
    now = f"${first}"
    table = qualified(host, "appointments")
    return " UNION ALL ".join(
        f"SELECT a.id, a.starts_at AS at FROM {table} AS a WHERE a.status = 'scheduled'"
        f" AND a.starts_at > {now} AND a.starts_at > ${first + 1 + 2 * n}"
        f" AND a.starts_at <= ${first + 2 + 2 * n}"
        for n in range(len(ALLOWED_OFFSETS))
    )


async def candidate_ids(conn: AsyncConnection, window: Window, now: datetime) -> list[uuid.UUID]:
    """Scheduled, not yet started appointments with some offset due in ``window``.

    Deliberately the plain ranges, without the other kinds' check that a slot is not yet done:
    a reminder sent is selected again by the rest of the window's ticks, and its batch finds
    the claim taken (``already_done``). Measured at a million users (runbook, "Capacity"):
    checking the user's offsets and the ledger per appointment in range cost ~16 µs a row
    (20–50 ms a tick at 8 appointments a minute, against 3.5 ms), and PostgreSQL's generic
    plan for it, from a prepared statement's sixth run, took seconds.
    """
    if conn.dialect.name == "postgresql":
        sql = f"{_candidates_sql(host_schema(conn))} ORDER BY at"
        params = _selection_params(window, now)[2:]
        return list(dict.fromkeys(row[0] for row in await conn.exec_driver_sql(sql, params)))
    return list((await conn.execute(candidate_query(window, now))).scalars())


def candidate_query(window: Window, now: datetime) -> Select[Any]:
    """``candidate_ids``' statement (SQLite; ``_candidates_sql`` on PostgreSQL): one
    ``starts_at`` range per offset over the index of scheduled appointments."""
    a = appointments.c
    ranges = [and_(a.starts_at > w.start, a.starts_at <= w.end) for w in event_windows(window)]
    return (
        select(a.id)
        .where(a.status == inline("scheduled"), a.starts_at > now, or_(*ranges))
        .order_by(a.starts_at)
    )


async def quiet_candidate_ids(
    conn: AsyncConnection, unseen: Window, now: datetime
) -> list[uuid.UUID]:
    """Appointments not yet started of users with quiet hours, with some offset due in
    ``unseen`` (a stretch no tick looked at): the period that held one may end in this
    tick's window (``rules.appointment_reminders.quiet_held`` decides on the fresh row)."""
    return list((await conn.execute(quiet_candidate_query(unseen, now))).scalars())


def quiet_candidate_query(unseen: Window, now: datetime) -> Select[Any]:
    """``quiet_candidate_ids``' statement, over the partial index of scheduled appointments
    (its predicate inline: ``db.inline_constants``)."""
    a, n = appointments.c, notification_settings.c
    ranges = [and_(a.starts_at > w.start, a.starts_at <= w.end) for w in event_windows(unseen)]
    return (
        select(a.id)
        .join(notification_settings, n.user_id == a.user_id)
        .where(a.status == inline("scheduled"), a.starts_at > now, or_(*ranges), *quiet_set())
        .order_by(a.starts_at)
    )


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
