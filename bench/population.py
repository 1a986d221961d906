"""A million users over ~400 zones, loaded the way a host application's import would be.

Shared by ``bench.local_time_selection`` and the full benchmark (``python -m bench``).
Zones have Zipf-like sizes and 70% of users take their workspace's zone; host rows go in
with ``COPY`` so migration 0002's triggers build ``local_time_schedules`` as in production.
Each user's digest and notes-reminder times are drawn per zone among the minutes that are
*not* due in the chosen window, so "nobody due" is exact; ``make_due`` then moves a chosen
number of users into it. On request (``load(..., weekly=...)``) every user also takes the
weekly report, on a weekday drawn from 1..7 at a time drawn the same way (a minute not due on
any date is not due on the chosen weekday either); ``make_due`` with ``day_column`` then moves
users onto the weekday and a time that are due in the window.
"""

from __future__ import annotations

import random
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as wall_time

import asyncpg

from notifier.rules.local_time_slots import EVERY_DAY, due_slots, slot_instant
from notifier.services.next_send import REACH
from notifier.timemath.windows import Window
from notifier.timemath.zones import get_zone

MUST_HAVE = (
    "Asia/Kathmandu",
    "Australia/Eucla",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Australia/Lord_Howe",
    "America/New_York",
    "Europe/London",
    "Pacific/Apia",
    "America/Los_Angeles",
    "Pacific/Auckland",
)
CHUNK = 50_000


@dataclass(frozen=True)
class Population:
    workspaces: list[tuple[uuid.UUID, str]]
    users: list[tuple[uuid.UUID, uuid.UUID, str | None, str]]  # id, workspace, own zone, zone
    allowed: dict[str, list[wall_time]]  # minutes not due in the window, per zone
    due: dict[str, list[wall_time]]  # minutes due in the window, per zone
    due_isodows: dict[str, list[int]]  # ISO weekday of the local date each of ``due`` is due on


def pick_zones(count: int, rnd: random.Random) -> list[str]:
    names = sorted(
        z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/")
    )
    rest = [z for z in names if z not in MUST_HAVE]
    return list(MUST_HAVE) + rnd.sample(rest, count - len(MUST_HAVE))


def split_minutes(zone: str, window: Window) -> tuple[list[wall_time], list[wall_time], list[int]]:
    """Whole minutes of the day that are not due, and that are due, in ``window``; with the
    ISO weekday of the local date each due minute is due on (the first such date).

    Minutes due in the ``REACH`` before the window are neither: a deployment's ticks sent
    those slots as they fell due, and the next-send ticks keep a row whose slot there is
    still open (``services.next_send.reach``), which this fresh data set, with nothing ever
    sent, would make every tick re-read."""
    tz = get_zone(zone)
    allowed: list[wall_time] = []
    due: list[wall_time] = []
    isodows: list[int] = []
    before = Window(window.start - REACH, window.start)
    for minute in range(24 * 60):
        at = wall_time(minute // 60, minute % 60)
        slots = due_slots(tz, at, EVERY_DAY, window)
        if slots:
            due.append(at)
            isodows.append(slots[0].day.isoweekday())
        elif not due_slots(tz, at, EVERY_DAY, before):
            allowed.append(at)
    return allowed, due, isodows


def populate(users: int, zones: int, window: Window, rnd: random.Random) -> Population:
    """Zones with Zipf-like sizes; 70% of users take their workspace's zone."""
    names = pick_zones(zones, rnd)
    weights = [1 / (rank + 1) for rank in range(len(names))]
    spaces = [(uuid.uuid4(), z) for z in rnd.choices(names, weights, k=max(1, users // 50))]
    people = []
    for _ in range(users):
        space_id, space_zone = rnd.choice(spaces)
        own = rnd.choices(names, weights)[0] if rnd.random() < 0.3 else None
        people.append((uuid.uuid4(), space_id, own, own or space_zone))
    allowed, due, isodows = {}, {}, {}
    for name in names:
        allowed[name], due[name], isodows[name] = split_minutes(name, window)
    return Population(spaces, people, allowed, due, isodows)


async def load(
    dsn: str,
    pop: Population,
    rnd: random.Random,
    at: datetime,
    weekly: random.Random | None = None,
) -> None:
    """COPY the host rows in chunks, as an import would; triggers fill the schedule table.

    The ledger gets an earlier digest of every user, as production would have: that of the
    local date two days before ``at``'s UTC date. Not the day before: at 00:30 UTC it is still
    that day in the Americas, so their users made due at ``at`` would be found done already.

    With ``weekly`` (its own generator, so the digest's draws stay those of a run without it),
    every user also takes the weekly report, and the ledger holds each user's previous report:
    the latest of their weekday on or before that same date.
    """
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "workspaces",
            records=[(i, "Practice", z) for i, z in pop.workspaces],
            columns=["id", "name", "timezone"],
        )
        for start in range(0, len(pop.users), CHUNK):
            chunk = pop.users[start : start + CHUNK]
            await conn.copy_records_to_table(
                "users",
                records=[(u, w, own, f"u{u.hex[:8]}@example.com", True) for u, w, own, _ in chunk],
                columns=["id", "workspace_id", "timezone", "email", "is_active"],
            )
            await conn.copy_records_to_table(
                "notification_settings",
                records=[
                    _settings(u, pop.allowed[zone], rnd)
                    + (_weekly(pop.allowed[zone], weekly) if weekly else ())
                    for u, _, _, zone in chunk
                ],
                columns=SETTINGS_COLUMNS + (WEEKLY_COLUMNS if weekly else []),
            )
        # Steady state: an earlier digest of every user is already in the ledger.
        await conn.execute(
            "INSERT INTO reminders_sent (id, kind, entity_id, user_id, slot, status, attempts,"
            " created_at) SELECT gen_random_uuid(), 'daily_digest', user_id, user_id,"
            " $1::timestamptz, 'sent', 1, now() FROM local_time_schedules",
            slot_instant(at.date() - timedelta(days=2)),
        )
        if weekly:
            await conn.execute(
                "INSERT INTO reminders_sent (id, kind, entity_id, user_id, slot, status,"
                " attempts, created_at) SELECT gen_random_uuid(), 'weekly_report', user_id,"
                " user_id, ($1::date - (7 + extract(isodow FROM $1::date)::int"
                " - weekly_report_day) % 7)::timestamp AT TIME ZONE 'UTC', 'sent', 1, now()"
                " FROM local_time_schedules",
                at.date() - timedelta(days=2),
            )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


SETTINGS_COLUMNS = [
    "user_id",
    "digest_enabled",
    "digest_time",
    "notes_reminder_enabled",
    "notes_reminder_time",
]


WEEKLY_COLUMNS = ["weekly_report_enabled", "weekly_report_day", "weekly_report_time"]


def _settings(user: uuid.UUID, allowed: list[wall_time], rnd: random.Random) -> tuple[object, ...]:
    """Digest and notes reminder on, each at a minute that is not due in the window."""
    return (user, True, rnd.choice(allowed), True, rnd.choice(allowed))


def _weekly(allowed: list[wall_time], rnd: random.Random) -> tuple[object, ...]:
    """Weekly report on, any weekday, at a minute that is not due in the window on any date."""
    return (True, rnd.randint(1, 7), rnd.choice(allowed))


async def make_due(
    dsn: str,
    pop: Population,
    count: int,
    rnd: random.Random,
    column: str = "digest_time",
    *,
    day_column: str | None = None,
) -> list[uuid.UUID]:
    """Moves ``count`` users' ``column`` time into the window (one UPDATE; triggers follow).

    With ``day_column`` (``weekly_report_day``), it also becomes the ISO weekday of the local
    date on which that time is due.
    """
    chosen = rnd.sample(pop.users, count)
    picks = [(zone, rnd.randrange(len(pop.due[zone]))) for *_, zone in chosen]
    day = f", {day_column} = v.d" if day_column else ""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"UPDATE notification_settings n SET {column} = v.t{day} "
            "FROM unnest($1::uuid[], $2::time[], $3::integer[]) AS v(id, t, d) "
            "WHERE n.user_id = v.id",
            [u for u, *_ in chosen],
            [pop.due[zone][i] for zone, i in picks],
            [pop.due_isodows[zone][i] for zone, i in picks],
        )
        await conn.execute("ANALYZE local_time_schedules")
    finally:
        await conn.close()
    return [u for u, *_ in chosen]
