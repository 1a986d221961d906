"""The tick shared by the local-time kinds: ``daily_digest``, ``notes_reminder``, ``weekly_report``.

Each user is due at a wall-clock time in their own zone, once per local date; the slot is
that date (stored as its 00:00 UTC), so a change of zone or time after today's email never
brings a second one. A tick at ``now`` owns the window ``(now - catch_up, now]``.

How a tick finds due users among a million without reading them all
--------------------------------------------------------------------
The effective zone, ``coalesce(users.timezone, workspaces.timezone, 'UTC')``, spans two host
tables, so no index there can answer "local time in range, in zone z". Migration 0002 keeps a
worker-owned copy, ``local_time_schedules`` (zone, times, switches per user), current through
triggers on ``users``, ``workspaces`` and ``notification_settings``, with partial indexes on
``(zone, digest_time)`` and ``(zone, notes_reminder_time)`` over users who can receive the
kind. ``local_time_zones`` lists the zones in use (~400 rows).

Per tick, Python (never SQL ``AT TIME ZONE``, so gap and fold rules hold in one place) turns
the window into local-time ranges per zone and date (``rules.local_time_slots``; zones that
share their offsets that day share a range, ~400 zones make ~40 ranges). The plan travels as
parameters, a row ``(zone, lo, hi, slot, isodow)`` per zone and range (PostgreSQL: arrays of
zones and of ranges; SQLite: one JSON text), and one statement joins them to the kind's partial
index: one index-only probe per zone and date (migration 0004), and an anti-join on
``reminders_sent``'s unique key to skip slots already finished (``sent``, ``failed``,
``skipped``) or still claimed (``pending`` under a lease that has not run out, by the
database's clock: leases are wall-clock time). Any other ``pending`` row is a candidate: a
claim released after transient SMTP failures, by a stopping worker, or left by a killed one
whose lease ran out is tried again by the next tick. A claim still held is not selected
again: during a backlog every tick re-selected, re-read and re-enqueued every slot whose
batch was still sending (measured: 226 ticks selecting 828,000 slots to send 12,900).

The statement's text never changes, so it is prepared once and planned once (an ``OR`` of
per-zone ranges cost ~11 ms of planning per tick); its cost follows the number of zones and
of users in range, not the size of the table. Figures: ``bench/local_time_selection.py``.

The ranges are a superset (on DST days they are an hour wider); every selected user's fresh
row (``users``, ``workspaces``, ``notification_settings``, never the copy) is then checked by
``due_slots``, which alone decides. Unknown zone names plan as UTC, so their users are still
selected and recorded ``failed`` by id rather than silently ignored.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from functools import cache, partial
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import structlog
from sqlalchemy import Select, Uuid, func, select, text
from sqlalchemy.engine import Dialect, Result
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.app import Services
from notifier.channels.base import Delivery
from notifier.content.decoding import Decodable, Decoder
from notifier.db.engine import autocommit, host_schema, own_schema, qualified
from notifier.db.id_lists import among
from notifier.db.known_zones import ZONES_FINGERPRINT_SQL, KnownZones
from notifier.db.schema import (
    local_time_schedules,
    local_time_zones,
    notification_settings,
    reminders_sent,
    users,
    workspaces,
)
from notifier.delivery.ledger import SlotKey
from notifier.delivery.slot_filters import RETRYABLE_SQL, TAKEN_SQL
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
from notifier.rules.quiet_hours import due_in
from notifier.rules.recipient import refusal_of
from notifier.services.batches import BatchedJob, TickInstant
from notifier.services.channel_choice import (
    addressee,
    load_preferences,
    new_plan,
    quiet_columns,
)
from notifier.services.counts import TickCounts
from notifier.services.dispatch import dispatch
from notifier.services.held_slots import held_entity_ids, held_slots, merged
from notifier.services.host_follow import follow_host, host_source_sql, kept_by_migration
from notifier.services.plan import Addressee, Plan, plan_each
from notifier.services.row_errors import row_error
from notifier.timemath.windows import Window, catch_up_window
from notifier.timemath.zones import UnknownZoneError, effective_zone_name, get_zone

log = structlog.get_logger("notifier.local_time")


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

    The weekdays a user is due on are one rule written twice, tested equal
    (``tests/integration/test_weekly_report.py``): ``schedule_days`` in SQL over the copy's
    columns ``s.*`` and the local date's ISO weekday ``{isodow}`` (a superset is enough
    there), and ``days_of`` in Python over ``settings_days`` of the fresh row, which decides
    (``BadWeekdaysError``: the user's slots are recorded ``failed`` with the reason).
    """

    kind: str
    due_columns: tuple[str, ...]  # the partial index's predicate, so the planner uses it
    schedule_time: Any
    schedule_days: str
    settings_enabled: Any
    settings_time: Any
    settings_days: tuple[Any, ...]
    days_of: Callable[..., Weekdays]
    default_time: time
    prepare: Prepare

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
    BEGIN and ROLLBACK round trips of a transaction.
    """
    await follow_host(services.engine, services.zones)
    async with autocommit(services.engine) as conn:
        window = tick_context(services, now).window
        due = await candidate_ids(conn, kind, window, services.zones)
        return merged(due, await held_entity_ids(conn, kind.kind, window))


async def process_batch(
    services: Services, ids: Sequence[uuid.UUID], tick: TickInstant, kind: LocalTimeKind
) -> TickCounts:
    """The sending half, over the tick's window (a batch run late still owns its slots); its
    retry budgets count the time since the tick began."""
    now = tick.current(services.clock)
    ctx = replace(tick_context(services, tick.instant), now=now)
    return await _process(services, kind, ids, ctx, now)


async def candidate_ids(
    conn: AsyncConnection, kind: LocalTimeKind, window: Window, known: KnownZones | None = None
) -> list[uuid.UUID]:
    """Users whose time may be due in ``window`` and whose slot is not yet recorded.

    With ``known`` zones from an earlier tick, one round trip: the statement also reports the
    zones table's fingerprint, and only if it changed are the zones read again (a new zone's
    users are then selected in this same tick).
    """
    known = known if known is not None else KnownZones()
    if not await _copy_kept(conn, known):
        return await _select_direct(conn, kind, selection_plan(all_zones(), window))
    if known.zones:
        ids, fingerprint = await _select(conn, kind, selection_plan(known.zones, window))
        if known.holds(fingerprint):
            return ids
    await _read_zones(conn, known)
    ids, _ = await _select(conn, kind, selection_plan(known.zones, window))
    log.debug("local_time_zones_read", kind=kind.kind, zones=len(known.zones))
    return ids


async def _read_zones(conn: AsyncConnection, known: KnownZones) -> None:
    """The zones and (PostgreSQL) their fingerprint, in one statement: one snapshot.

    Without a fingerprint (SQLite) nothing is remembered, so every tick reads the zones.
    """
    if conn.dialect.name != "postgresql":
        zones = (await conn.execute(select(local_time_zones.c.zone))).scalars().all()
        known.remember(tuple(zones), None)
        return
    zones = qualified(own_schema(conn), "local_time_zones")
    stmt = text(f"SELECT zone, ({ZONES_FINGERPRINT_SQL.format(zones=zones)}) FROM {zones}")
    rows = (await conn.execute(stmt)).all()
    known.remember(tuple(r[0] for r in rows), rows[0][1] if rows else None)


async def select_candidates(
    conn: AsyncConnection, kind: LocalTimeKind, plan: Sequence[PlanEntry]
) -> list[uuid.UUID]:
    """Runs the selection statement for a plan (``bench/local_time_selection.py`` times it)."""
    return (await _select(conn, kind, plan))[0]


async def _select(
    conn: AsyncConnection, kind: LocalTimeKind, plan: Sequence[PlanEntry]
) -> tuple[list[uuid.UUID], str | None]:
    """The selected ids and, on PostgreSQL, the zones table's fingerprint.

    Its estimated cost grows with zones and dates; past ``jit_above_cost`` PostgreSQL would
    spend ~190 ms compiling JIT code for a ~3 ms query: ``db.engine`` turns ``jit`` off for
    the session when it connects, which costs no round trip per tick.
    """
    if not plan:
        return [], None
    if conn.dialect.name == "postgresql":
        return await _select_postgresql(conn, kind, plan)
    stmt = text(selection_sql(kind, conn.dialect.name, own_schema(conn))).bindparams(
        kind=kind.kind, **plan_params(plan, conn.dialect)
    )
    scalars = (await conn.execute(stmt.columns(user_id=Uuid()))).scalars()
    return sorted(set(scalars)), None


async def _select_postgresql(
    conn: AsyncConnection, kind: LocalTimeKind, plan: Sequence[PlanEntry]
) -> tuple[list[uuid.UUID], str | None]:
    """The statement straight to the driver, positional parameters in ``_PLAN_ARRAYS`` order.

    A ``text()`` clause carrying six arrays cost ~0.4 ms more a tick (SQLAlchemy's parameter
    handling), a tenth of the budget of a tick with nobody due.
    """
    arrays = _plan_arrays(plan)
    params = (*(arrays[name] for name in _PLAN_ARRAYS), kind.kind)
    result: Result[str, uuid.UUID | None] = await conn.exec_driver_sql(
        _positional_sql(kind, own_schema(conn)), params
    )
    rows = [(row[0], row[1]) for row in result]
    found = {user_id for _, user_id in rows if user_id is not None}
    return sorted(found), rows[0][0] if rows else None


@cache
def _positional_sql(kind: LocalTimeKind, schema: str | None) -> str:
    """The PostgreSQL statement of ``kind`` with ``$n`` in place of its named parameters."""
    sql = selection_sql(kind, "postgresql", schema)
    for number, name in enumerate((*_PLAN_ARRAYS, "kind"), start=1):
        sql = sql.replace(f":{name}", f"${number}")
    return sql


def plan_params(plan: Sequence[PlanEntry], dialect: Dialect) -> dict[str, Any]:
    """The plan as the selection statement's parameters, a row per zone and range."""
    if dialect.name == "postgresql":
        return _plan_arrays(plan)
    return {"plan": _plan_json(plan, dialect)}


def _plan_arrays(plan: Sequence[PlanEntry]) -> dict[str, list[Any]]:
    """PostgreSQL: each zone with the number of its entry, and each entry's range, slot and
    ISO weekday once (binary-encoded by asyncpg, read by ``unnest``).

    Zones outnumber entries ten to one (~420 to ~40); sending every entry's values once per
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


def _plan_json(plan: Sequence[PlanEntry], dialect: Dialect) -> str:
    """SQLite: one JSON array of ``{zones, lo, hi, slot, isodow}``, values written in the
    text formats SQLite stores (it compares them as text)."""
    store_time = _storer(local_time_schedules.c.digest_time.type, dialect)
    store_slot = _storer(reminders_sent.c.slot.type, dialect)
    rows = [
        {
            "zones": entry.zones,
            "lo": store_time(entry.range.lo),
            "hi": store_time(entry.range.hi),
            "slot": store_slot(slot_instant(entry.range.day)),
            "isodow": entry.range.day.isoweekday(),
        }
        for entry in plan
    ]
    return json.dumps(rows, separators=(",", ":"))


def _storer(column_type: Any, dialect: Dialect) -> Callable[[Any], str]:
    """Writes a value as the column's dialect binds it (SQLite: its own text format)."""
    process = column_type.dialect_impl(dialect).bind_processor(dialect)

    def store(value: Any) -> str:
        stored = process(value) if process is not None else value
        return stored if isinstance(stored, str) else str(stored.isoformat())

    return store


# The plan joined to the kind's partial (zone, time) index: one probe per plan row. The WHERE
# repeats the index predicate so both planners may use it; {days} is the kind's weekday rule.
# PostgreSQL, measured at a million users:
# - the LATERAL subquery with OFFSET 0 is an optimisation fence. Without it the planner
#   flattens the join and picks a parallel scan of every schedule (~200 ms, not ~3 ms);
# - ``unnest`` of flat arrays is cheap to decode and its row count is estimated from the
#   arrays themselves (a nested JSON plan was guessed at 10,000 rows and set off JIT); the
#   ranges are numbered ``WITH ORDINALITY`` and each zone names its range's number.
_SELECTION_SQL = {
    "postgresql": """
SELECT f.fingerprint, c.user_id
FROM ({fingerprint}) AS f(fingerprint)
LEFT JOIN (
SELECT s.user_id
FROM unnest(CAST(:zones AS text[]), CAST(:entries AS integer[])) AS z(zone, entry)
JOIN unnest(CAST(:los AS time[]), CAST(:his AS time[]), CAST(:slots AS timestamptz[]),
            CAST(:isodows AS integer[])) WITH ORDINALITY AS p(lo, hi, slot, isodow, entry)
  ON p.entry = z.entry
CROSS JOIN LATERAL (
    SELECT s.user_id FROM {schedules} AS s
    WHERE s.zone = z.zone AND s.{time} BETWEEN p.lo AND p.hi AND {due}
      AND {days}
      AND {not_done}
    OFFSET 0) AS s
) AS c ON true
""",
    "sqlite": """
SELECT s.user_id
FROM json_each(:plan) AS p
JOIN json_each(p.value, '$.zones') AS z
JOIN {schedules} AS s
  ON s.zone = z.value
 AND s.{time} BETWEEN json_extract(p.value, '$.lo') AND json_extract(p.value, '$.hi')
WHERE {due} AND {days}
  AND {not_done}
""",
}
# The slot of plan row ``p`` not yet finished nor claimed for user ``s`` (both dialects).
_NOT_DONE_SQL = """(NOT EXISTS (
        SELECT 1 FROM {ledger} AS r
        WHERE r.kind = :kind AND r.entity_id = s.user_id AND r.user_id = s.user_id
          AND r.slot = {slot} AND {taken})
      OR EXISTS (
        SELECT 1 FROM {ledger} AS r
        WHERE r.kind = :kind AND r.entity_id = s.user_id AND r.user_id = s.user_id
          AND r.slot = {slot} AND {retryable}))"""


def selection_sql(kind: LocalTimeKind, dialect_name: str, schema: str | None = None) -> str:
    """The selection statement of ``kind`` in the caller's dialect, over the worker's tables
    in ``schema``."""
    template = _SELECTION_SQL.get(dialect_name)
    if template is None:
        raise NotImplementedError(f"unsupported database dialect {dialect_name!r}")
    pg = dialect_name == "postgresql"
    isodow = "p.isodow" if pg else "json_extract(p.value, '$.isodow')"
    return template.format(
        schedules=qualified(schema, "local_time_schedules"),
        time=kind.schedule_time.name,
        due=" AND ".join(f"s.{column}" for column in kind.due_columns),
        days=kind.schedule_days.format(isodow=isodow),
        fingerprint=ZONES_FINGERPRINT_SQL.format(zones=qualified(schema, "local_time_zones")),
        not_done=_not_done(schema, "p.slot" if pg else "json_extract(p.value, '$.slot')"),
    )


def _not_done(schema: str | None, slot: str) -> str:
    return _NOT_DONE_SQL.format(
        ledger=qualified(schema, "reminders_sent"),
        slot=slot,
        taken=TAKEN_SQL,
        retryable=RETRYABLE_SQL,
    )


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
    for slot in with_held(due_slots(zone or UTC, row["at"], days, window), held or {}, window):
        key = _key(kind.kind, row, slot)
        if bad_days is not None:
            _refuse(plan, key, who, kind, bad_days)
            continue
        if zone is None:
            _refuse(plan, key, who, kind, "unknown time zone")
            continue
        due.append(DueUser(key, slot, zone, who, row["user_name"], row["workspace_id"]))
    return due


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
WHERE {due} AND {days} AND {not_done}
"""


@cache
def direct_sql(kind: LocalTimeKind, own: str | None, host: str | None) -> str:
    """The selection of ``kind`` straight from the host's relations in ``host``."""
    return _DIRECT_SQL.format(
        source=host_source_sql(host),
        time=kind.schedule_time.name,
        due=" AND ".join(f"s.{column}" for column in kind.due_columns),
        days=kind.schedule_days.format(isodow="p.isodow"),
        not_done=_not_done(own, "p.slot"),
    )


async def _select_direct(
    conn: AsyncConnection, kind: LocalTimeKind, plan: Sequence[PlanEntry]
) -> list[uuid.UUID]:
    """The direct selection's user ids (PostgreSQL only: SQLite always keeps the copy)."""
    sql = direct_sql(kind, own_schema(conn), host_schema(conn))
    stmt = text(sql).bindparams(kind=kind.kind, **_plan_arrays(plan))
    return sorted((await conn.execute(stmt.columns(user_id=Uuid()))).scalars())


async def _copy_kept(conn: AsyncConnection, known: KnownZones) -> bool:
    """Whether the copy is current: as ``host_follow`` decided this tick, else (a selection
    run on its own: benchmarks, tests) whether the full migration's triggers keep it."""
    if known.copy_kept is None:
        known.copy_kept = await kept_by_migration(conn)
    return known.copy_kept


@cache
def all_zones() -> tuple[str, ...]:
    """Every zone name tzdata knows, and UTC."""
    return tuple(sorted(available_timezones() | {"UTC"}))
