"""The tick shared by the local-time kinds: ``daily_digest``, ``notes_reminder``, ``weekly_report``.

Each user is due at a wall-clock time in their own zone, once per local date; the slot is
that date (stored as its 00:00 UTC), so a change of zone or time after today's email never
brings a second one. A tick at ``now`` owns the window ``(now - catch_up, now]``.

How a tick finds due users among a million without reading them all
--------------------------------------------------------------------
The effective zone, ``coalesce(users.timezone, workspaces.timezone, 'UTC')``, spans two host
tables, so no index there can answer "local time in range, in zone z". Migration 0002 keeps a
worker-owned copy, ``local_time_schedules`` (zone, times, switches per user), current through
triggers on ``users``, ``workspaces`` and ``notification_settings``; since migration 0010 it
also holds, per kind, each user's next-send instant, and a tick reads the rows whose instant
has come (``services.next_send``: one empty index probe when nobody is due). Without the copy
(``migrate --own-tables-only`` and no ``host-triggers``), a plan of local-time ranges per zone
(``rules.local_time_slots.selection_plan``) is joined to the host's relations
(``direct_sql``).

Either way an anti-join on ``reminders_sent``'s unique key skips slots already finished
(``sent``, ``failed``, ``skipped``) or still claimed (``pending`` under a lease that has not
run out, by the database's clock: leases are wall-clock time). Any other ``pending`` row is a
candidate: a claim released after transient SMTP failures, by a stopping worker, or left by a
killed one whose lease ran out is tried again by the next tick. A claim still held is not
selected again: during a backlog every tick re-selected, re-read and re-enqueued every slot
whose batch was still sending (measured: 226 ticks selecting 828,000 slots to send 12,900).

The selection is a superset (the copy's weekdays, DST days); every selected user's fresh row
(``users``, ``workspaces``, ``notification_settings``, never the copy) is then checked by
``due_slots``, which alone decides. Unknown zone names are timed as UTC, so their users are
still selected and recorded ``failed`` by id rather than silently ignored. Figures:
``bench/local_time_selection.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import cache, partial
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import Select, Uuid, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.app import Services
from notifier.channels.base import Delivery
from notifier.content.decoding import Decodable, Decoder
from notifier.db.copy_state import CopyState
from notifier.db.engine import autocommit, host_schema, own_schema, qualified
from notifier.db.id_lists import among
from notifier.db.schema import notification_settings, users, workspaces
from notifier.delivery.ledger import SlotKey
from notifier.delivery.slot_filters import open_slot_sql
from notifier.rules.kinds import BY_NAME, Kind
from notifier.rules.local_time_slots import (
    EVERY_DAY,
    BadWeekdaysError,
    DueSlot,
    PlanEntry,
    Weekdays,
    due_slots,
    selection_plan,
    slot_instant,
)
from notifier.rules.quiet_hours import before, due_in, held_into
from notifier.rules.recipient import refusal_of
from notifier.services import tick_marks
from notifier.services.batches import BatchedJob, TickInstant
from notifier.services.channel_choice import (
    addressee,
    load_preferences,
    new_plan,
    quiet_columns,
)
from notifier.services.counts import TickCounts
from notifier.services.dispatch import dispatch
from notifier.services.held_slots import QUIET_SQL, held_entity_ids, held_slots, merged
from notifier.services.host_follow import follow_host, host_source_sql, kept_by_migration
from notifier.services.next_send import CopySchedule, candidates
from notifier.services.plan import Addressee, Plan, plan_each
from notifier.services.row_errors import row_error
from notifier.timemath.windows import Window, catch_up_window
from notifier.timemath.zones import UnknownZoneError, effective_zone_name, get_zone


@dataclass(frozen=True)
class DueUser:
    """One user's slot that is due this tick and passed the fresh-row checks."""

    key: SlotKey  # on the email channel; ``Plan.offer`` makes one per channel of ``who``
    slot: DueSlot
    zone: ZoneInfo
    who: Addressee
    user_name: str | None
    workspace_id: uuid.UUID | None


@dataclass(frozen=True)
class TickContext:
    """What every batch of one tick shares."""

    window: Window
    catch_up: timedelta
    base_url: str
    now: datetime | None = None  # when the batch sends (quiet hours hold by it); None: due

    def offer(self, plan: Plan, item: DueUser, kind: Kind, context: Mapping[str, object]) -> None:
        """The item on each of its channels; a send that the next tick takes over once the
        slot leaves its catch-up window."""

        def make(key: SlotKey, address: str | None) -> Delivery:
            expires_at = item.slot.due + self.catch_up
            due = item.slot.due
            return Delivery(key, address, context, expires_at, None, due, item.workspace_id)

        plan.offer(item.key, item.who, kind, self.now or item.slot.due, make)

    def offer_summaries(
        self,
        plan: Plan,
        due: Sequence[DueUser],
        kind: Kind,
        facts: Mapping[DueUser, Decodable],
        context: Callable[..., Mapping[str, object]],
    ) -> None:
        """Each due user's summary email (digest, weekly report): ``context`` builds it from
        the user's slot and their ``facts``, decoded (``CONTENT_DECODER``) under the per-row
        guard."""
        for item in due:
            build = partial(self._summary, plan.decoder, item, facts[item], context)
            self.build_and_offer(plan, item, kind, build)

    def _summary(
        self,
        decoder: Decoder,
        item: DueUser,
        facts: Decodable,
        context: Callable[..., Mapping[str, object]],
    ) -> Mapping[str, object]:
        return context(
            user_name=decoder.user_name(item.user_name),
            day=item.slot.day,
            due=item.slot.due,
            zone=item.zone,
            facts=facts.decoded(decoder),
            base_url=self.base_url,
        )

    def build_and_offer(
        self, plan: Plan, item: DueUser, kind: Kind, build: Callable[[], Mapping[str, object]]
    ) -> None:
        """Builds the item's content under the per-row guard (one user's bad data costs that
        user's slot alone, on every channel), then offers it on its channels."""
        try:
            context = build()
        except Exception as exc:
            plan.fail_all(item.key, item.who, row_error(exc))
            return
        self.offer(plan, item, kind, context)


def one_slot_per_user(due: Sequence[DueUser]) -> list[list[DueUser]]:
    """``due`` in rounds where each user appears once, for content read per user: a catch-up
    window longer than a day can make two local dates of one user due in one tick."""
    rounds: list[list[DueUser]] = []
    seen: list[set[uuid.UUID]] = []
    for item in due:
        user = item.key.user_id
        number = next((i for i, users in enumerate(seen) if user not in users), len(rounds))
        if number == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[number].append(item)
        seen[number].add(user)
    return rounds


Prepare = Callable[[AsyncConnection, Sequence[DueUser], TickContext, Plan], Awaitable[None]]


@dataclass(frozen=True)
class LocalTimeKind:
    """What differs between the kinds: columns, defaults, due weekdays and the content step.

    The weekdays a user is due on are one rule written three times, tested equal
    (``tests/integration/test_weekly_report.py``): ``schedule_days`` in SQL over the host's
    schedule columns ``s.*`` and the local date's ISO weekday ``{isodow}`` (the direct path),
    ``copy.days`` over the copy's columns (a superset is enough in both), and ``days_of``
    over ``settings_days`` of the fresh row, which decides (``BadWeekdaysError``: the user's
    slots are recorded ``failed`` with the reason).
    """

    copy: CopySchedule  # its name, and where the copy keeps it (``services.next_send``)
    schedule_days: str
    settings_enabled: Any
    settings_time: Any
    settings_days: tuple[Any, ...]
    days_of: Callable[..., Weekdays]
    default_time: time
    prepare: Prepare

    @property
    def kind(self) -> str:
        return self.copy.kind

    def job(self) -> BatchedJob:
        """The kind's job (``services.batches``): this module's two halves, for this kind."""

        async def select_due(services: Services, now: datetime) -> list[uuid.UUID]:
            return await due_ids(services, now, self)

        async def send(
            services: Services, ids: Sequence[uuid.UUID], tick: TickInstant
        ) -> TickCounts:
            return await process_batch(services, ids, tick, self)

        return BatchedJob(select_due, send)


def tick_context(services: Services, now: datetime) -> TickContext:
    """The window and settings every batch of the tick at ``now`` shares."""
    catch_up = timedelta(minutes=services.settings.catch_up_minutes)
    return TickContext(catch_up_window(now, catch_up), catch_up, services.settings.app_base_url)


async def due_ids(services: Services, now: datetime, kind: LocalTimeKind) -> list[uuid.UUID]:
    """The tick's selection half: users with a ``kind`` slot due at ``now``, not recorded.

    Autocommit: each read is its own snapshot as under READ COMMITTED anyway, without the
    BEGIN and ROLLBACK round trips of a transaction. On the probes' engine, whose sessions
    walk indexes in order (``db.index_order``): the rows it moves leave dead entries behind.
    """
    await follow_host(services.engine, services.copy_state)
    async with autocommit(services.probes) as conn:
        window = tick_context(services, now).window
        return await candidate_ids(conn, kind, window, services.copy_state)


async def process_batch(
    services: Services, ids: Sequence[uuid.UUID], tick: TickInstant, kind: LocalTimeKind
) -> TickCounts:
    """The sending half, over the tick's window (a batch run late still owns its slots); its
    retry budgets count the time since the tick began."""
    now = tick.current(services.clock)
    ctx = replace(tick_context(services, tick.instant), now=now)
    return await _process(services, kind, ids, ctx, now)


async def candidate_ids(
    conn: AsyncConnection, kind: LocalTimeKind, window: Window, known: CopyState | None = None
) -> list[uuid.UUID]:
    """Users whose slot may be due in ``window`` and is not yet recorded, then those with a
    slot whose hold for quiet hours ends in it: through the copy's next-send instants
    (``services.next_send``) when the copy is current, else straight from the host's
    relations."""
    known = known if known is not None else CopyState()
    if not await _copy_kept(conn, known):
        return await _direct_candidates(conn, kind, window)
    return await candidates(conn, kind.copy, window)


def _plan_arrays(plan: Sequence[PlanEntry]) -> dict[str, list[Any]]:
    """The plan as arrays: each zone with the number of its entry, and each entry's range,
    slot and ISO weekday once (binary-encoded by asyncpg, read by ``unnest``).

    Zones outnumber entries ten to one (~600 to ~60); sending every entry's values once per
    zone cost ~0.6 ms of encoding a tick.
    """
    arrays: dict[str, list[Any]] = {n: [] for n in _PLAN_ARRAYS}
    for number, entry in enumerate(plan, start=1):
        arrays["zones"] += entry.zones
        arrays["entries"] += [number] * len(entry.zones)
        arrays["los"].append(entry.range.lo)
        arrays["his"].append(entry.range.hi)
        arrays["slots"].append(slot_instant(entry.range.day))
        arrays["isodows"].append(entry.range.day.isoweekday())
    return arrays


_PLAN_ARRAYS = ("zones", "entries", "los", "his", "slots", "isodows")


def _fresh_rows_query(
    kind: LocalTimeKind, ids: Sequence[uuid.UUID], dialect_name: str
) -> Select[Any]:
    """The current host rows of ``ids``, with the switches the recipient policy reads."""
    u, w, n = users.c, workspaces.c, notification_settings.c
    return (
        select(
            u.id,
            u.workspace_id,
            u.email,
            u.full_name.label("user_name"),
            u.timezone.label("user_zone"),
            w.timezone.label("workspace_zone"),
            func.coalesce(kind.settings_time, kind.default_time).label("at"),
            *(value.label(f"days_{n}") for n, value in enumerate(kind.settings_days)),
            u.is_active,
            n.webhook_url,
            func.coalesce(n.email_enabled, True).label("email_enabled"),
            func.coalesce(kind.settings_enabled, False).label("kind_enabled"),
            *quiet_columns(),
        )
        .select_from(users)
        .outerjoin(workspaces, w.id == u.workspace_id)
        .outerjoin(notification_settings, n.user_id == u.id)
        .where(among(u.id, ids, dialect_name))
    )


async def _process(
    services: Services,
    kind: LocalTimeKind,
    ids: Sequence[uuid.UUID],
    ctx: TickContext,
    now: datetime,
) -> TickCounts:
    """Re-reads one batch, decides per user, builds content, then hands over to dispatch."""
    plan = new_plan(services)
    async with services.engine.connect() as conn:
        rows = (
            (await conn.execute(_fresh_rows_query(kind, ids, conn.dialect.name))).mappings().all()
        )
        preferences = await load_preferences(conn, kind.kind, ids)
        held = await held_slots(conn, kind.kind, ids, ctx.window)
        due: list[DueUser] = []

        def plan_one(row: Mapping[str, Any]) -> None:
            who = addressee(services, row, kind.kind, preferences, row["id"])
            mine = held.get(row["id"], {})
            due.extend(resolve_row(row, kind, ctx.window, plan, who, held=mine))

        plan_each(rows, plan_one, lambda row: row["id"])
        await kind.prepare(conn, due, ctx, plan)
    return await dispatch(services, plan.deliveries, plan.outcomes, now=now)


def resolve_row(
    row: Mapping[str, Any],
    kind: LocalTimeKind,
    window: Window,
    plan: Plan,
    who: Addressee,
    *,
    held: Mapping[datetime, datetime] | None = None,
) -> list[DueUser]:
    """The slots of one fresh row that are due, by its own time or (``held``: slot -> end)
    at the end of the quiet period that held it. An unknown zone is timed as UTC, so its
    failure is recorded once per date (per channel), like a send would be; a recipient the
    policy refuses is recorded skipped there rather than failed."""
    zone_name = effective_zone_name(row["user_zone"], row["workspace_zone"])
    try:
        zone: ZoneInfo | None = get_zone(zone_name)
    except UnknownZoneError:
        zone = None
    due = []
    try:
        days, bad_days = kind.days_of(*_days(kind, row)), None
    except BadWeekdaysError as exc:
        days, bad_days = EVERY_DAY, str(exc)
    held = {**quiet_held(zone or UTC, row["at"], days, window, who), **(held or {})}
    for slot in with_held(due_slots(zone or UTC, row["at"], days, window), held, window):
        key = _key(kind.kind, row, slot)
        if bad_days is not None:
            _refuse(plan, key, who, kind, bad_days)
            continue
        if zone is None:
            _refuse(plan, key, who, kind, "unknown time zone")
            continue
        due.append(DueUser(key, slot, zone, who, row["user_name"], row["workspace_id"]))
    return due


def quiet_held(
    zone: tzinfo, at: time, days: Weekdays, window: Window, who: Addressee
) -> dict[datetime, datetime]:
    """The user's local dates due in the day before ``window`` that their quiet hours hold
    into it (ledger slot -> the period's end), whether or not a tick saw them then."""
    if who.state.quiet is None:
        return {}
    earlier = due_slots(zone, at, days, before(window))
    dues = {slot_instant(slot.day): slot.due for slot in earlier}
    return held_into(window, dues, who.state.zone, who.state.quiet)


def with_held(
    due: Sequence[DueSlot], held: Mapping[datetime, datetime], window: Window
) -> list[DueSlot]:
    """``due`` and the held slots whose hold ends in ``window``, each local date once, due at
    its hold's end when held (contract section 10: the period's end is its due instant)."""
    if not held:
        return list(due)
    by_day = {slot.day: slot for slot in due}
    for slot, until in held.items():
        at = due_in(window, slot, until)
        if at is not None:
            by_day[slot.date()] = DueSlot(slot.date(), at)
    return sorted(by_day.values())


def _days(kind: LocalTimeKind, row: Mapping[str, Any]) -> list[Any]:
    return [row[f"days_{n}"] for n in range(len(kind.settings_days))]


def _refuse(plan: Plan, key: SlotKey, who: Addressee, kind: LocalTimeKind, reason: str) -> None:
    """A slot the user's bad data stops: ``skipped`` if the policy refuses anyway, else
    ``failed`` with the reason, on every channel."""
    refusal = refusal_of(who.state, BY_NAME[kind.kind])
    if refusal:
        plan.skip_all(key, who, refusal)
    else:
        plan.fail_all(key, who, reason)


def _key(kind: str, row: Mapping[str, Any], slot: DueSlot) -> SlotKey:
    """Entity and user are both the user; the slot is the local date (contract section 3)."""
    return SlotKey(kind, row["id"], row["id"], slot_instant(slot.day))


# Without the copy (``migrate --own-tables-only``: no triggers on the host's tables, which may
# be views), the same plan joins the host's rows themselves, read as the copy's columns with the
# contract's defaults. No index can serve it: its cost is a read of every user, measured in
# ``bench/host_views.py``. The plan covers every zone tzdata knows (there is no list of the
# zones in use); a user whose zone name tzdata does not know is not selected here.
_DIRECT_SQL = """
SELECT DISTINCT s.user_id
FROM unnest(CAST(:zones AS text[]), CAST(:entries AS integer[])) AS z(zone, entry)
JOIN unnest(CAST(:los AS time[]), CAST(:his AS time[]), CAST(:slots AS timestamptz[]),
            CAST(:isodows AS integer[])) WITH ORDINALITY AS p(lo, hi, slot, isodow, entry)
  ON p.entry = z.entry
JOIN ({source}) AS s ON s.zone = z.zone AND s.{time} BETWEEN p.lo AND p.hi
WHERE {due} AND {days} AND {not_done}{quiet}
"""
# A user with a quiet period (``held_slots.quiet_set`` in SQL): a stretch no tick looked at
# owes only what quiet hours held into the window.
_QUIET_ONLY = (
    " AND EXISTS (SELECT 1 FROM {settings} AS n WHERE n.user_id = s.user_id AND " + QUIET_SQL + ")"
)


@cache
def direct_sql(
    kind: LocalTimeKind, own: str | None, host: str | None, quiet_only: bool = False
) -> str:
    """The selection of ``kind`` straight from the host's relations in ``host`` (only users
    with a quiet period: ``quiet_only``)."""
    quiet = _QUIET_ONLY.format(settings=qualified(host, "notification_settings"))
    return _DIRECT_SQL.format(
        source=host_source_sql(host),
        time=kind.copy.time.name,
        due=" AND ".join(f"s.{column}" for column in kind.copy.due_columns),
        days=kind.schedule_days.format(isodow="p.isodow"),
        not_done=open_slot_sql(qualified(own, "reminders_sent"), "s.user_id", "p.slot"),
        quiet=quiet if quiet_only else "",
    )


async def _direct_candidates(
    conn: AsyncConnection, kind: LocalTimeKind, window: Window
) -> list[uuid.UUID]:
    """The direct selection of ``window``; after a stretch no tick looked at (an outage),
    also its users with quiet hours, whose period may have held a slot into the window."""
    mark = await tick_marks.looked_until(conn, kind.kind)
    found = await _select_direct(conn, kind, selection_plan(all_zones(), window))
    unseen = tick_marks.unseen(window, mark)
    if unseen is not None:
        plan = selection_plan(all_zones(), unseen)
        found = merged(found, await _select_direct(conn, kind, plan, quiet_only=True))
    await tick_marks.record(conn, kind.kind, window, mark)
    return merged(found, await held_entity_ids(conn, kind.kind, window))


async def _select_direct(
    conn: AsyncConnection, kind: LocalTimeKind, plan: Sequence[PlanEntry], quiet_only: bool = False
) -> list[uuid.UUID]:
    """The direct selection's user ids (PostgreSQL only: SQLite always keeps the copy)."""
    sql = direct_sql(kind, own_schema(conn), host_schema(conn), quiet_only)
    stmt = text(sql).bindparams(kind=kind.kind, **_plan_arrays(plan))
    return sorted((await conn.execute(stmt.columns(user_id=Uuid()))).scalars())


async def _copy_kept(conn: AsyncConnection, known: CopyState) -> bool:
    """Whether the copy is current: as ``host_follow`` decided this tick, else (a selection
    run on its own: benchmarks, tests) whether the full migration's triggers keep it."""
    if known.copy_kept is None:
        known.copy_kept = await kept_by_migration(conn)
    return known.copy_kept


@cache
def all_zones() -> tuple[str, ...]:
    """Every zone name tzdata knows, and UTC."""
    return tuple(sorted(available_timezones() | {"UTC"}))
