"""``notifier preview``: the email one kind would send a user, rendered and never sent.

Built from the same pieces as the real send, so the preview cannot drift from it: each kind's
row query and context builder (``services.appointment_reminders.row_query``, the digest's and
notes reminder's own ``prepare`` steps, ``services.task_common``'s task rows), then the
kind's templates through ``channels.email.email_parts`` with the setup the email channel gets
(``channels.registry.email_setup``: links, headers and the ``CONTENT_PRIVACY`` mode), so the
preview shows what that mode lets the email say; values pass through the host's
``CONTENT_DECODER`` as in a send, and one it refuses is reported, never shown. Nothing is
claimed, sent or recorded. The email is rendered as if sent at ``--at``; whatever would stop
the real send (a switch, a cancelled appointment, a task done) is reported as a note, and the
content is still shown when it can be built.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from jinja2 import Environment
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.app import open_decoder
from notifier.channels.addresses import Addresses
from notifier.channels.email import email_parts
from notifier.channels.registry import email_setup
from notifier.config import Settings
from notifier.content.appointment_reminder import reminder_context
from notifier.content.decoding import Decoder, UndecodableError
from notifier.content.mime import BadAddressError, check_address
from notifier.content.render import RenderedContent
from notifier.content.task_notification import task_context
from notifier.db.schema import appointments, task_reminders, tasks
from notifier.delivery.ledger import SlotKey
from notifier.ops.users import User, load_user
from notifier.rules.kinds import BY_NAME, JOB_KINDS, TASK_DUE_LEAD, TASK_REMINDER_LATENESS
from notifier.rules.local_time_slots import (
    EVERY_DAY,
    BadWeekdaysError,
    DueSlot,
    Weekdays,
    digest_weekdays,
    one_weekday,
    slot_instant,
)
from notifier.rules.recipient import Hold, RecipientState, decide, refusal_of
from notifier.rules.upcoming import held_note
from notifier.services import appointment_reminders, daily_digest, notes_reminders, weekly_report
from notifier.services import task_reminders as task_reminder_service
from notifier.services.local_time import DueUser, Prepare, TickContext
from notifier.services.plan import Addressee
from notifier.services.plan import Plan as LocalTimePlan
from notifier.services.task_common import (
    join_recipient,
    open_task,
    recipient_columns,
    task_columns,
    task_facts,
)
from notifier.timemath.windows import Window
from notifier.timemath.zones import get_zone, local_date, local_to_utc

KINDS: tuple[str, ...] = tuple(kind for kind in JOB_KINDS.values() if kind is not None)


class NothingToPreviewError(LookupError):
    """No email can be built: no such row, or the kind would send nothing at all."""


@dataclass(frozen=True)
class Request:
    """What to preview: a kind, a user, an instant, and optionally the row to use."""

    kind: str
    user_id: uuid.UUID
    at: datetime
    entity_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Draft:
    """A kind's template context for one row, and why the real send would not happen."""

    entity_id: uuid.UUID
    context: Mapping[str, object]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Preview:
    """The rendered email."""

    kind: str
    entity_id: uuid.UUID
    to_addr: str | None
    content: RenderedContent
    notes: list[str]
    headers: tuple[tuple[str, str], ...] = ()  # contract section 10's, as the email has them


async def build_preview(
    engine: AsyncEngine, templates: Environment, settings: Settings, request: Request
) -> Preview:
    """Loads the rows, builds the kind's context and renders its three templates."""
    decoder = open_decoder(settings)
    async with engine.connect() as conn:
        user = await load_user(conn, request.user_id)
        try:
            draft = await _BUILDERS[request.kind](conn, settings, user, request, decoder)
        except UndecodableError as exc:
            raise NothingToPreviewError(f"{exc}: the send would be recorded failed") from None
    notes = user_notes(user, request.kind, request.at) + draft.notes
    key = SlotKey(request.kind, draft.entity_id, request.user_id, request.at)
    parts = email_parts(email_setup(settings), templates, key, draft.context)
    return Preview(request.kind, draft.entity_id, user.email, parts.content, notes, parts.headers)


def user_notes(user: User, kind: str, at: datetime) -> list[str]:
    """Why this user would get no email of ``kind`` at all, or not at ``at``, if so."""
    notes = []
    state = user.recipient.state(BY_NAME[kind])
    refusal = refusal_of(state, BY_NAME[kind])
    if refusal:
        notes.append(f"{refusal}: nothing is sent")
    decision = decide(state, BY_NAME[kind], "email", at)
    if isinstance(decision, Hold):
        notes.append(f"{held_note(decision.until, user.recipient.zone)}: the email goes then")
    quiet_note = user.recipient.quiet_note()
    if quiet_note:
        notes.append(quiet_note)
    try:
        check_address(user.email)
    except BadAddressError as exc:
        notes.append(f"{exc}: the send would be recorded failed")
    return notes


async def _first(conn: AsyncConnection, stmt: Select[Any], missing: str) -> uuid.UUID:
    """The first id the statement returns, or a plain error naming what is missing."""
    found = (await conn.execute(stmt.limit(1))).scalar()
    if found is None:
        raise NothingToPreviewError(missing)
    return uuid.UUID(str(found))


async def _one(conn: AsyncConnection, stmt: Select[Any], what: str, user: User) -> Any:
    """The one row of ``stmt``, which must belong to ``user``."""
    row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        raise NothingToPreviewError(f"no {what} with that id")
    if row["user_id"] != user.recipient.user_id:
        raise NothingToPreviewError(f"that {what} belongs to another user")
    return row


async def _appointment(
    conn: AsyncConnection, settings: Settings, user: User, request: Request, decoder: Decoder
) -> Draft:
    a = appointments.c
    entity = request.entity_id or await _first(
        conn,
        select(a.id)
        .where(a.user_id == user.recipient.user_id, a.status == "scheduled")
        .where(a.starts_at > request.at)
        .order_by(a.starts_at),
        "the user has no scheduled appointment after that instant (give --entity)",
    )
    query = appointment_reminders.row_query([entity], conn.dialect.name)
    row = await _one(conn, query, "appointment", user)
    facts = appointment_reminders.appointment_facts(row, decoder)
    context = reminder_context(facts, get_zone(user.zone_name), request.at, settings.app_base_url)
    notes = []
    if row["status"] != "scheduled":
        notes.append(f"the appointment is {row['status']}: nothing is sent")
    if row["starts_at"] <= request.at:
        notes.append("the appointment has started by then: nothing is sent")
    return Draft(entity, context, notes)


def _due_user(user: User, kind: str, day: date, at_time: time) -> DueUser:
    """The user's slot of local ``day``, as the local-time tick would hand it to ``prepare``."""
    zone = get_zone(user.zone_name)
    due = local_to_utc(day, at_time, zone)
    if due is None:
        raise NothingToPreviewError(f"{day} does not exist in {user.zone_name}: nothing is due")
    uid = user.recipient.user_id
    key = SlotKey(kind, uid, uid, slot_instant(day))
    # The email, whatever the switches say: preview notes them instead.
    who = Addressee(RecipientState(True, True, True), Addresses(user.email, None), ("email",))
    return DueUser(key, DueSlot(day, due), zone, who, user.full_name, user.workspace_id)


async def _local_day(
    conn: AsyncConnection,
    settings: Settings,
    user: User,
    request: Request,
    spec: tuple[str, time, Weekdays, Prepare],
    *,
    decoder: Decoder,
) -> Draft:
    """The local-time kind's email of the user's local date at ``--at``, via its ``prepare``."""
    kind, at_time, days, prepare = spec
    day = local_date(request.at, get_zone(user.zone_name))
    item = _due_user(user, kind, day, at_time)
    catch_up = timedelta(minutes=settings.catch_up_minutes)
    window = Window(item.slot.due - catch_up, item.slot.due)
    plan = LocalTimePlan(decoder=decoder)
    await prepare(conn, [item], TickContext(window, catch_up, settings.app_base_url), plan)
    if not plan.deliveries:
        reasons = "; ".join(o.reason or o.status for o in plan.outcomes) or "nothing is due"
        raise NothingToPreviewError(f"no {kind} for {day}: {reasons} (nothing is sent)")
    label = BY_NAME[kind].label
    skipped = day.isoweekday() not in days
    notes = [f"{label} are not sent on a {day:%A}: nothing is sent that date"] if skipped else []
    return Draft(item.key.user_id, plan.deliveries[0].context, notes)


async def _digest(
    conn: AsyncConnection, settings: Settings, user: User, request: Request, decoder: Decoder
) -> Draft:
    r = user.recipient
    try:
        days = digest_weekdays(r.digest_skip_weekends, r.digest_days)
    except BadWeekdaysError as exc:
        raise NothingToPreviewError(f"{exc}: the digest would be recorded failed") from None
    spec = ("daily_digest", r.digest_time, days, daily_digest.prepare)
    return await _local_day(conn, settings, user, request, spec, decoder=decoder)


async def _weekly(
    conn: AsyncConnection, settings: Settings, user: User, request: Request, decoder: Decoder
) -> Draft:
    r = user.recipient
    days = one_weekday(r.weekly_report_day)
    spec = ("weekly_report", r.weekly_report_time, days, weekly_report.prepare)
    return await _local_day(conn, settings, user, request, spec, decoder=decoder)


async def _notes(
    conn: AsyncConnection, settings: Settings, user: User, request: Request, decoder: Decoder
) -> Draft:
    r = user.recipient
    spec = ("notes_reminder", r.notes_reminder_time, EVERY_DAY, notes_reminders.prepare)
    return await _local_day(conn, settings, user, request, spec, decoder=decoder)


def _task_row_query(task_id: uuid.UUID) -> Select[Any]:
    """A task with its recipient, as the task kinds read it."""
    t = tasks.c
    stmt = select(*task_columns(), t.user_id, t.status, *recipient_columns()).select_from(tasks)
    return join_recipient(stmt.where(t.id == task_id), t.user_id)


def _task_draft(
    row: Any, user: User, request: Request, settings: Settings, decoder: Decoder
) -> Draft:
    zone = get_zone(user.zone_name)
    context = task_context(task_facts(row, decoder), zone, request.at, settings.app_base_url)
    notes = []
    if row["completed"] or row["deleted_at"] is not None:
        notes.append("the task is completed or deleted: nothing is sent")
    reason = refusal_of(RecipientState.from_row(row), BY_NAME[request.kind])
    if reason:
        notes.append(f"{reason}: recorded skipped, nothing is sent")
    return Draft(row["task_id"], context, notes)


async def _task(
    conn: AsyncConnection,
    settings: Settings,
    user: User,
    request: Request,
    decoder: Decoder,
    *,
    condition: ColumnElement[bool],
    order: Any,
    missing: str,
) -> tuple[Any, Draft]:
    """The task ``--entity`` names, else the user's first open task meeting ``condition``
    in ``order`` (``missing`` says there is none); with its draft."""
    t = tasks.c
    entity = request.entity_id or await _first(
        conn,
        select(t.id)
        .where(t.user_id == user.recipient.user_id, open_task(), condition)
        .order_by(order),
        missing,
    )
    row = await _one(conn, _task_row_query(entity), "task", user)
    return row, _task_draft(row, user, request, settings, decoder)


async def _task_due(
    conn: AsyncConnection, settings: Settings, user: User, request: Request, decoder: Decoder
) -> Draft:
    t = tasks.c
    row, draft = await _task(
        conn,
        settings,
        user,
        request,
        decoder,
        condition=t.due_date > request.at,
        order=t.due_date,
        missing="the user has no open task due after that instant (give --entity)",
    )
    due = row["due_date"]
    if due is None or not request.at < due <= request.at + TASK_DUE_LEAD:
        draft.notes.append(
            "the task is not due within 24 hours of that instant: no task_due email then"
        )
    return draft


async def _task_overdue(
    conn: AsyncConnection, settings: Settings, user: User, request: Request, decoder: Decoder
) -> Draft:
    t = tasks.c
    row, draft = await _task(
        conn,
        settings,
        user,
        request,
        decoder,
        condition=t.due_date < request.at,
        order=t.due_date.desc(),
        missing="the user has no open task past due at that instant (give --entity)",
    )
    if row["status"] == "overdue":
        draft.notes.append("the task is already marked overdue: no second notice")
    if row["due_date"] is None or row["due_date"] >= request.at:
        draft.notes.append("the task is not past due at that instant")
    return draft


async def _task_reminder(
    conn: AsyncConnection, settings: Settings, user: User, request: Request, decoder: Decoder
) -> Draft:
    r = task_reminders.c
    entity = request.entity_id or await _first(
        conn,
        select(r.id)
        .where(r.user_id == user.recipient.user_id, r.sent == False, r.channel == "email")  # noqa: E712
        .where(r.remind_at > request.at - TASK_REMINDER_LATENESS)
        .order_by(r.remind_at),
        "the user has no unsent task reminder from 24 hours before that instant on (give --entity)",
    )
    query = task_reminder_service.fresh_rows([entity], conn.dialect.name)
    row = await _one(conn, query, "unsent task reminder", user)
    zone = get_zone(user.zone_name)
    context = task_context(task_facts(row, decoder), zone, request.at, settings.app_base_url)
    notes = []
    refusal = refusal_of(RecipientState.from_row(row), BY_NAME[request.kind])
    for reason in (task_reminder_service.not_sendable(row, request.at), refusal):
        if reason:
            notes.append(f"{reason}: recorded skipped, nothing is sent")
    if row["remind_at"] > request.at:
        notes.append("the reminder is not due yet at that instant")
    return Draft(entity, context, notes)


Builder = Callable[[AsyncConnection, Settings, User, Request, Decoder], Awaitable[Draft]]
_BUILDERS: dict[str, Builder] = {
    "appointment_reminder": _appointment,
    "daily_digest": _digest,
    "weekly_report": _weekly,
    "notes_reminder": _notes,
    "task_due": _task_due,
    "task_reminder": _task_reminder,
    "task_overdue": _task_overdue,
}
