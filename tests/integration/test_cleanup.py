"""The ``cleanup`` job: pending slots given up, old rows deleted in batches, no second email."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.app import Services
from notifier.config import Settings
from notifier.db.migrate import upgrade_to_head
from notifier.db.schema import job_runs, reminders_sent
from notifier.jobs.registry import tick_functions
from notifier.jobs.runs import run_recorded
from notifier.services.cleanup import EXPIRED_REASON
from tests.support.clock import SetClock, clocked_services
from tests.support.ledger import ledger_rows, statuses
from tests.support.local_time_data import LocalTimeData
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData, smtp_down

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # a Monday
AHEAD = T0 + timedelta(days=9)  # an operator's replay of an instant still to come
MINUTE = timedelta(minutes=1)
SENDING_JOBS = sorted(job for job in tick_functions() if job != "cleanup")


async def run_every_job(services: Services, at: datetime) -> None:
    for job in SENDING_JOBS:
        await run_recorded(services, job, at)


async def cleanup(services: Services, at: datetime) -> dict[str, int]:
    return (await run_recorded(services, "cleanup", at)).as_dict()


def _local_minute(zone: str, at: datetime) -> time:
    local = at.astimezone(ZoneInfo(zone))
    return time(local.hour, local.minute)


async def seed_every_kind(engine: AsyncEngine) -> dict[str, uuid.UUID]:
    """One due email of each kind at ``T0``, plus two slots an operator replays ``AHEAD``."""
    tasks, local = TaskData(engine), LocalTimeData(engine)
    user = await tasks.user(email="ana@example.com")
    ids = {"appointment": await tasks.appointment(user, T0 + timedelta(minutes=60))}
    ids["appointment_ahead"] = await tasks.appointment(user, AHEAD + timedelta(minutes=60))
    ids["digest_user"] = await local.digest_user(
        "Pacific/Kiritimati", digest_time=_local_minute("Pacific/Kiritimati", T0)
    )
    ids["notes_user"] = await local.notes_user(
        "America/Los_Angeles", notes_reminder_time=_local_minute("America/Los_Angeles", T0)
    )
    await local.session(ids["notes_user"])
    ids["task_due"] = await tasks.task(user, T0 + timedelta(hours=3))
    ids["task_due_ahead"] = await tasks.task(user, AHEAD + timedelta(hours=3))
    reminded = await tasks.task(user, T0 + timedelta(days=2))
    ids["reminder"] = await tasks.reminder(reminded, user, T0 - timedelta(minutes=5))
    ids["overdue"] = await tasks.task(user, T0 - timedelta(hours=2))
    return ids


def assert_no_slot_emailed_twice(mailbox: CaptureServer) -> int:
    """Message-IDs derive from the slot's key: a repeated one is a slot emailed twice."""
    ids = [m.parsed()["Message-ID"] for m in mailbox.messages]
    assert len(ids) == len(set(ids)), "a slot was emailed twice"
    return len(ids)


async def test_a_rerun_after_cleanup_sends_nothing_again(
    settings: Settings, mailbox: CaptureServer
) -> None:
    clock = SetClock(T0)
    short = settings.model_copy(update={"cleanup_retention_days": 1})
    async with clocked_services(short, clock) as services:
        ids = await seed_every_kind(services.engine)
        await run_every_job(services, T0)
        await run_recorded(services, "appointment_reminders", AHEAD)
        await run_recorded(services, "task_due_reminders", AHEAD)
        assert assert_no_slot_emailed_twice(mailbox) == 8
        assert await statuses(services.engine) == {"sent": 8}
        # The host sets the overdue task back to open, same due date: its old row is the
        # only thing that keeps a second overdue notice away.
        await TaskData(services.engine).update_task(ids["overdue"], status="open")

        clock.at = T0 + timedelta(days=1, minutes=1)  # just past the one-day retention
        counts = await cleanup(services, clock.at)
        kept = {(r["kind"], r["entity_id"]) for r in await ledger_rows(services.engine)}
        assert counts["skipped"] == 2  # the appointment's and the first task_due's rows
        assert ("appointment_reminder", ids["appointment"]) not in kept
        assert ("task_due", ids["task_due"]) not in kept
        assert kept == {
            ("appointment_reminder", ids["appointment_ahead"]),  # its slot is still ahead
            ("task_due", ids["task_due_ahead"]),
            ("task_reminder", ids["reminder"]),  # within the reminder scan's 8 days
            ("task_overdue", ids["overdue"]),  # an open task still lacks its mark
            ("daily_digest", ids["digest_user"]),  # a local date's slot reaches 48 h on
            ("notes_reminder", ids["notes_user"]),
        }

        # Every job again, now and at the replayed instant; the once-a-day kinds may send
        # the next local date's email (a new slot), nothing may come twice.
        for at in (clock.at, AHEAD, AHEAD + MINUTE):
            await run_every_job(services, at)
        assert_no_slot_emailed_twice(mailbox)
        assert (await TaskData(services.engine).get_task(ids["overdue"]))["status"] == "overdue"

        clock.at = T0 + timedelta(days=40)
        await cleanup(services, clock.at)
        assert await ledger_rows(services.engine) == []
        for at in (clock.at, clock.at + timedelta(hours=1)):
            await run_every_job(services, at)
        assert_no_slot_emailed_twice(mailbox)


async def test_pending_slots_past_their_last_chance_are_given_up(
    settings: Settings, mailbox: CaptureServer
) -> None:
    clock = SetClock(T0)
    async with clocked_services(settings, clock) as services:
        tasks = TaskData(services.engine)
        user = await tasks.user()
        await tasks.appointment(user, T0 + timedelta(minutes=60))
        async with smtp_down(settings) as down:
            down.clock = clock
            await run_recorded(down, "appointment_reminders", T0)
        [row] = await ledger_rows(services.engine)
        assert (row["status"], row["attempts"]) == ("pending", 1)
        live = await _ledger_row(services.engine, "task_due", T0 - timedelta(days=3), lease=True)

        last_chance = T0 + timedelta(minutes=60)  # the slot plus the catch-up window
        clock.at = last_chance + timedelta(minutes=60)  # plus the default margin
        assert (await cleanup(services, clock.at))["failed"] == 0
        clock.at += timedelta(seconds=1)
        assert (await cleanup(services, clock.at))["failed"] == 1

        rows = {r["id"]: r for r in await ledger_rows(services.engine)}
        assert (rows[row["id"]]["status"], rows[row["id"]]["last_error"]) == (
            "failed",
            EXPIRED_REASON,
        )
        assert rows[live]["status"] == "pending"  # its lease still runs: a live send
        drops = services.metrics.registry.get_sample_value(
            "notifier_missed_window_drops_total", {"kind": "appointment_reminder"}
        )
        assert drops == 1.0
        assert mailbox.messages == []


async def test_an_overdue_retry_is_timed_from_its_first_claim_not_its_old_due_date(
    services: Services,
) -> None:
    old_due = T0 - timedelta(days=20)
    fresh = await _ledger_row(services.engine, "task_overdue", old_due, created=T0)
    stale = await _ledger_row(
        services.engine, "task_overdue", old_due, created=T0 - timedelta(hours=26)
    )
    await cleanup(services, T0)
    rows = {r["id"]: r["status"] for r in await ledger_rows(services.engine)}
    assert rows == {fresh: "pending", stale: "failed"}


@contextlib.contextmanager
def delete_counts(engine: AsyncEngine) -> Iterator[list[int]]:
    """Rows removed by each DELETE statement the engine runs meanwhile."""
    counts: list[int] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            counts.append(cursor.rowcount)

    event.listen(engine.sync_engine, "after_cursor_execute", listen)
    try:
        yield counts
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", listen)


async def test_old_rows_go_in_small_batches_and_recent_ones_stay(settings: Settings) -> None:
    batched = settings.model_copy(
        update={"cleanup_batch_size": 10, "cleanup_job_runs_retention_days": 7}
    )
    clock = SetClock(T0)
    async with clocked_services(batched, clock) as services:
        old = T0 - timedelta(days=31)
        for i in range(25):
            await _ledger_row(services.engine, "appointment_reminder", old, status="sent")
            await _job_run(services.engine, old + i * MINUTE)
        recent = await _ledger_row(
            services.engine, "appointment_reminder", T0 - timedelta(days=29), status="sent"
        )
        kept_run = await _job_run(services.engine, T0 - timedelta(days=6))

        with delete_counts(services.engine) as deletes:
            counts = await cleanup(services, T0)
        assert counts["skipped"] == 50
        assert [r["id"] for r in await ledger_rows(services.engine)] == [recent]
        async with services.engine.connect() as conn:
            ids = set((await conn.execute(select(job_runs.c.id))).scalars())
        assert kept_run in ids and len(ids) == 2  # the kept run and this cleanup's own
    assert max(deletes) <= 10 and sum(deletes) == 50
    assert len([c for c in deletes if c]) >= 6


async def test_cleanup_runs_on_sqlite(tmp_path: Path, settings: Settings) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cleanup.sqlite3'}"
    await asyncio.to_thread(upgrade_to_head, url)
    lite = settings.model_copy(update={"database_url": SecretStr(url)})
    async with clocked_services(lite, SetClock(T0)) as services:
        old = T0 - timedelta(days=40)
        await _ledger_row(services.engine, "task_due", old, status="sent")
        # pending without a lease, claimed a day ago by a replay of an old instant
        await _ledger_row(
            services.engine, "appointment_reminder", old, created=T0 - timedelta(days=1)
        )
        await _job_run(services.engine, old)
        counts = await cleanup(services, T0)
        assert (counts["failed"], counts["skipped"]) == (1, 2)
        assert await statuses(services.engine) == {"failed": 1}


async def _ledger_row(
    engine: AsyncEngine,
    kind: str,
    slot: datetime,
    *,
    status: str = "pending",
    created: datetime | None = None,
    lease: bool = False,
) -> uuid.UUID:
    row_id = uuid.uuid4()
    values = {
        "id": row_id,
        "kind": kind,
        "entity_id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "slot": slot,
        "status": status,
        "attempts": 0,
        "created_at": created or slot,
        "lease_until": T0 + timedelta(days=365) if lease else None,
    }
    async with engine.begin() as conn:
        await conn.execute(insert(reminders_sent).values(**values))
    return row_id


async def _job_run(engine: AsyncEngine, started: datetime) -> uuid.UUID:
    row_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(job_runs).values(
                id=row_id,
                job_name="appointment_reminders",
                run_id=f"cron:appointment_reminders:{row_id.hex}",
                scheduled_for=started,
                started_at=started,
                finished_at=started,
                status="succeeded",
            )
        )
    return row_id
