"""The copy's next-send instants (migration 0010, ``services.next_send``), against real
PostgreSQL and SMTP: what moves them, what puts them back, and the ticks that must not trust
them. Each test fails if the instants stop a notification the contract owes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import text

from notifier.app import Services
from notifier.db.engine import own_schema
from notifier.rules.local_time_slots import NOT_COMPUTED
from notifier.services import next_send
from notifier.services.daily_digest import DIGEST, run_tick
from tests.support.ledger import ledger_rows
from tests.support.local_time_data import LocalTimeData, utc
from tests.support.plans import analyzed, bitmap_heap_blocks, commits_flushed
from tests.support.smtp import CaptureServer


@pytest.fixture
def people(services: Services) -> LocalTimeData:
    return LocalTimeData(services.engine)


async def digest_next(people: LocalTimeData, user: object) -> object:
    return (await people.next_sends(user))[0]  # type: ignore[arg-type]


async def test_a_row_moves_to_its_next_instant_once_its_slot_is_sent(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    user = await people.digest_user("Europe/Paris", digest_time=time(7, 0))
    assert await digest_next(people, user) == NOT_COMPUTED
    assert (await run_tick(services, utc(2026, 3, 10, 5, 0))).sent == 0
    assert await digest_next(people, user) == utc(2026, 3, 10, 6, 0)  # 07:00 in Paris
    assert (await run_tick(services, utc(2026, 3, 10, 6, 0))).sent == 1
    # Read once more by the next tick, settled in the ledger: on to tomorrow's instant.
    assert (await run_tick(services, utc(2026, 3, 10, 6, 1))).selected == 0
    assert await digest_next(people, user) == utc(2026, 3, 11, 6, 0)
    assert (await run_tick(services, utc(2026, 3, 11, 6, 0))).sent == 1
    assert len(mailbox.messages) == 2


async def test_a_changed_time_is_computed_again_and_honoured_the_same_day(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    user = await people.digest_user("UTC", digest_time=time(7, 0))
    assert (await run_tick(services, utc(2026, 3, 10, 5, 0))).sent == 0
    assert await digest_next(people, user) == utc(2026, 3, 10, 7, 0)
    await people.set_settings(user, digest_time=time(6, 0))
    assert await digest_next(people, user) == NOT_COMPUTED  # the copy's trigger
    assert (await run_tick(services, utc(2026, 3, 10, 6, 0))).sent == 1
    assert len(mailbox.messages) == 1


async def test_a_tick_further_back_than_the_latest_still_sends_what_its_window_owes(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    # ``notifier run daily_digest --at`` an earlier instant, or a tick run late: the rows
    # were moved past its window by a later tick, and it must not trust them.
    user = await people.digest_user("UTC", digest_time=time(7, 0))
    assert (await run_tick(services, utc(2026, 3, 11, 7, 0))).sent == 1
    assert (await run_tick(services, utc(2026, 3, 11, 7, 1))).selected == 0
    assert await digest_next(people, user) == utc(2026, 3, 12, 7, 0)
    assert (await run_tick(services, utc(2026, 3, 10, 7, 0))).sent == 1
    assert await digest_next(people, user) == utc(2026, 3, 12, 7, 0)  # moved by none
    days = sorted(row["slot"] for row in await ledger_rows(services.engine, "daily_digest"))
    assert days == [utc(2026, 3, 10), utc(2026, 3, 11)]


async def test_a_tick_ahead_of_the_database_clock_moves_nothing(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    # Were it to move rows, every due instant before it would be passed over for ever by
    # the ticks of the real clock (the database's clock is the real one in these tests).
    user = await people.digest_user("UTC", digest_time=time(7, 0))
    assert (await run_tick(services, utc(2099, 1, 1, 7, 0))).sent == 1
    assert await digest_next(people, user) == NOT_COMPUTED
    assert (await run_tick(services, utc(2026, 3, 10, 7, 0))).sent == 1


async def test_a_user_switched_off_and_on_again_is_computed_again(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    # Off, the row leaves the kind's index and no tick moves it: its instant goes stale.
    user = await people.digest_user("UTC", digest_time=time(7, 0))
    assert (await run_tick(services, utc(2026, 3, 10, 7, 0))).sent == 1
    assert (await run_tick(services, utc(2026, 3, 10, 7, 1))).selected == 0
    await people.set_settings(user, digest_enabled=False)
    assert (await run_tick(services, utc(2026, 3, 11, 7, 0))).sent == 0
    await people.set_settings(user, digest_enabled=True)
    assert await digest_next(people, user) == NOT_COMPUTED
    assert (await run_tick(services, utc(2026, 3, 12, 7, 0))).sent == 1


async def test_a_tick_reads_in_chunks_up_to_its_budget_and_the_next_tick_goes_on(
    services: Services,
    people: LocalTimeData,
    mailbox: CaptureServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Owed rows are not moved past their slot before they are sent, so a chunk must start
    # after the last one's key, or it would read them again; past the budget the next tick
    # goes on: it reads the fifth (never computed: first in the index) and moves the four
    # sent on (the first tick recorded their 07:00 instant).
    monkeypatch.setattr(next_send, "CHUNK", 2)
    monkeypatch.setattr(next_send, "BUDGET", 4)
    for _ in range(5):
        await people.digest_user("UTC", digest_time=time(7, 0))
    sent = [(await run_tick(services, utc(2026, 3, 10, 7, m))).sent for m in range(3)]
    assert sent == [4, 1, 0]
    assert len(mailbox.messages) == 5


async def test_a_tick_never_waits_for_a_copy_row_another_writer_holds(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    # A worker's start resets the instants in chunks beside the ticks, and ticks of two kinds
    # move the same users: a move that waited for a row held by one of them, while holding
    # rows that one waited for, was failed by PostgreSQL as a deadlock (the memory phase of
    # ``python -m bench``). The held row is simply not moved; the next tick moves it.
    held = await people.digest_user("UTC", digest_time=time(7, 0))
    free = await people.digest_user("UTC", digest_time=time(7, 0))
    async with services.engine.connect() as other:
        await other.execute(
            text("SELECT 1 FROM local_time_schedules WHERE user_id = :u FOR UPDATE"),
            {"u": held},
        )
        async with asyncio.timeout(30):  # without SKIP LOCKED the tick waits for ``other``
            assert (await run_tick(services, utc(2026, 3, 10, 5, 0))).sent == 0
        assert await digest_next(people, free) == utc(2026, 3, 10, 7, 0)
        assert await digest_next(people, held) == NOT_COMPUTED
        await other.rollback()
    assert (await run_tick(services, utc(2026, 3, 10, 5, 1))).sent == 0
    assert await digest_next(people, held) == utc(2026, 3, 10, 7, 0)


async def test_a_tick_behind_the_latest_by_less_than_a_window_sends_what_only_it_owes(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    # Cron ticks overlap: the 08:01 tick may run before the 08:00 one ends. 07:01 is in the
    # 08:00 tick's window (07:00, 08:00], not in the 08:01 tick's (07:01, 08:01]. Had the 08:01
    # tick moved the row past 07:01, the 08:00 tick, which trusts instants when less than a
    # window behind, would never see it; the row stays until its slot there is settled.
    owed = await people.digest_user("UTC", digest_time=time(7, 1))
    later = await people.digest_user("UTC", digest_time=time(12, 0))
    assert (await run_tick(services, utc(2026, 3, 10, 8, 1))).sent == 0
    assert await digest_next(people, later) == utc(2026, 3, 10, 12, 0)  # moved: mark 08:01
    assert await digest_next(people, owed) == utc(2026, 3, 10, 7, 1)  # its slot, open
    assert (await run_tick(services, utc(2026, 3, 10, 8, 0))).sent == 1
    assert await digest_next(people, owed) == utc(2026, 3, 10, 7, 1)  # not yet seen settled
    assert (await run_tick(services, utc(2026, 3, 10, 8, 2))).sent == 0
    assert await digest_next(people, owed) == utc(2026, 3, 11, 7, 1)
    assert len(mailbox.messages) == 1


async def test_an_idle_read_marks_the_index_entries_that_moved_rows_left_behind(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    # A row moved on leaves a dead entry at its old instant in the index, inside the range of
    # every later read until VACUUM. A read that walks the index marks such entries dead in
    # it, and later reads skip them; a bitmap scan, which the planner takes when it expects
    # few rows due, never marks them and reads their heap rows again every tick (a million
    # users, 50,000 rows moved since VACUUM: 58 ms an idle tick, against 1.5 ms).
    await many_digest_users(people, 20_000)
    assert (await run_tick(services, utc(2026, 3, 10, 5, 0))).sent == 0  # every row moves
    await commits_flushed(services.engine)
    await analyzed(services.engine, TABLE)  # few due: a bitmap scan looks cheap
    moved_from = await heap_blocks_a_bitmap_read_visits(services, utc(2026, 3, 10, 5, 2))
    assert moved_from > 100  # every row moved; the bitmap read still visits each old one
    assert (await run_tick(services, utc(2026, 3, 10, 5, 2))).selected == 0
    # Nearly every old entry is marked (one heap block's stay; a bitmap tick marks none).
    assert await heap_blocks_a_bitmap_read_visits(services, utc(2026, 3, 10, 5, 3)) <= 1


async def many_digest_users(people: LocalTimeData, count: int) -> None:
    """``count`` users in UTC with the digest at every minute from 06:00 to 23:59 in turn,
    in two statements (the copy's triggers make one row-by-row insert ~4 ms)."""
    workspace = await people.workspace()
    ids = [uuid.uuid4() for _ in range(count)]
    times = [minute(360 + n % 1080) for n in range(count)]
    async with people.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (id, workspace_id)"
                " SELECT u, :w FROM unnest(CAST(:ids AS uuid[])) AS u"
            ),
            {"ids": ids, "w": workspace},
        )
        await conn.execute(
            text(
                "INSERT INTO notification_settings (user_id, digest_enabled, digest_time)"
                " SELECT u, true, t"
                " FROM unnest(CAST(:ids AS uuid[]), CAST(:times AS time[])) AS x(u, t)"
            ),
            {"ids": ids, "times": times},
        )


def minute(n: int) -> time:
    return time(n // 60, n % 60)


async def heap_blocks_a_bitmap_read_visits(services: Services, now: datetime) -> int:
    """The copy's heap blocks the digest's due read visits when made to take a bitmap scan."""
    async with services.engine.connect() as conn:
        sql = next_send._due_sql(DIGEST.copy, own_schema(conn), conn.dialect)
        held = (False, now - timedelta(hours=1))  # no held slots' read
        params = (now, "daily_digest", *next_send.START, next_send.CHUNK, *held)
        return await bitmap_heap_blocks(conn, sql, params, TABLE)


TABLE = "local_time_schedules"
