"""Contract section 8: a bad row costs that row alone, in every job that reads it (issue 21).

Each bad row sits beside a control user who must get exactly one email of every kind in the
same ticks, while the bad row is recorded ``failed`` with its reason and every tick succeeds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from notifier.app import Services
from notifier.channels.base import Delivery
from notifier.db.schema import tasks
from notifier.delivery.ledger import SlotKey
from notifier.services.dispatch import dispatch
from tests.support.every_job import (
    EMAIL_JOBS,
    SeedData,
    due_everywhere,
    kinds_to,
    run_job,
    run_statuses,
    set_raw,
)
from tests.support.ledger import ledger_rows
from tests.support.smtp import CaptureServer

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CONTROL = "control@example.com"


@pytest.fixture
def seed(services: Services) -> SeedData:
    return SeedData(services.engine)


@pytest.mark.parametrize(
    "address",
    [
        "someone@example.com\n",
        "someone@example.com\r\n",
        "someone@example.com\rRCPT TO:<other@example.com>",
        "some one@example.com",
        "someone@example.com>",
        "<someone@example.com>",
        "someone@exa\x00mple.com".replace("\x00", "\x1b"),
        "someone@example.com\x7f",
        "sómeone@example.com",
    ],
)
@pytest.mark.parametrize("job", list(EMAIL_JOBS))
async def test_an_address_that_smtp_would_refuse_costs_its_slot_alone(
    services: Services, seed: SeedData, mailbox: CaptureServer, job: str, address: str
) -> None:
    bad = await due_everywhere(seed, NOW, address)
    await due_everywhere(seed, NOW, CONTROL)
    counts = await run_job(services, job, NOW)
    kind = EMAIL_JOBS[job]
    assert kinds_to(mailbox.messages, CONTROL) == {kind: 1}
    assert [m.rcpt_tos for m in mailbox.messages] == [[CONTROL]]
    assert (counts["sent"], counts["failed"]) == (1, 1)
    rows = {r["user_id"]: r for r in await ledger_rows(services.engine, kind)}
    assert rows[bad.user_id]["status"] == "failed"
    assert rows[bad.user_id]["last_error"] == "missing or malformed email address"
    assert await run_statuses(services) == {"succeeded": 1}


SENTINELS = [
    ("0001-01-01 00:00:00+00", "America/New_York"),
    ("-infinity", "America/New_York"),
    ("4713-01-01 00:00:00+00 BC", "America/New_York"),
    ("9999-12-31 23:59:59+00", "Asia/Tokyo"),
    ("infinity", "Asia/Tokyo"),
    ("294276-12-31 23:59:59+00", "Asia/Tokyo"),
]
OVERDUE_SENTINELS = [s for s in SENTINELS if s[0].startswith(("0001", "-", "4713"))]


@pytest.mark.parametrize(("due_date", "zone"), OVERDUE_SENTINELS)
async def test_a_task_due_at_the_calendars_start_is_a_failed_overdue_notice(
    services: Services, seed: SeedData, mailbox: CaptureServer, due_date: str, zone: str
) -> None:
    bad = await due_everywhere(seed, NOW, "sentinel@example.com", zone)
    await set_raw(services, "tasks", bad.overdue_task_id, "due_date", due_date, "timestamptz")
    await due_everywhere(seed, NOW, CONTROL, "America/New_York")
    counts = await run_job(services, "overdue_scanner", NOW)
    assert kinds_to(mailbox.messages, CONTROL) == {"task_overdue": 1}
    assert (counts["sent"], counts["failed"]) == (1, 1)
    rows = {r["user_id"]: r for r in await ledger_rows(services.engine, "task_overdue")}
    assert rows[bad.user_id]["status"] == "failed"
    assert rows[bad.user_id]["last_error"] == "due_date is outside the calendar"
    # Handled for good: marked overdue, so later ticks neither select nor record it again.
    again = await run_job(services, "overdue_scanner", NOW + timedelta(minutes=15))
    assert again["selected"] == 0
    async with services.engine.connect() as conn:
        status = await conn.scalar(select(tasks.c.status).where(tasks.c.id == bad.overdue_task_id))
    assert status == "overdue"
    assert await run_statuses(services) == {"succeeded": 2}


@pytest.mark.parametrize(("due_date", "zone"), SENTINELS)
async def test_a_reminder_of_a_task_due_at_the_calendars_edge_is_still_sent(
    services: Services, seed: SeedData, mailbox: CaptureServer, due_date: str, zone: str
) -> None:
    """The reminder's own instant is sound; the task's date only shows, in UTC where the
    user's zone would leave the calendar."""
    bad = await due_everywhere(seed, NOW, "sentinel@example.com", zone)
    await set_raw(services, "tasks", bad.task_id, "due_date", due_date, "timestamptz")
    await due_everywhere(seed, NOW, CONTROL, "America/New_York")
    counts = await run_job(services, "task_reminders", NOW)
    assert kinds_to(mailbox.messages, CONTROL) == {"task_reminder": 1}
    assert kinds_to(mailbox.messages, "sentinel@example.com") == {"task_reminder": 1}
    assert (counts["sent"], counts["failed"]) == (2, 0)
    assert await run_statuses(services) == {"succeeded": 1}


@pytest.mark.parametrize(("due_date", "zone"), SENTINELS)
async def test_a_recurring_task_due_at_the_calendars_edge_fails_alone(
    services: Services, seed: SeedData, due_date: str, zone: str
) -> None:
    done: dict[str, Any] = {"completed": True, "status": "completed", "is_recurring": True}
    bad_user = await seed.user(email="sentinel@example.com", timezone=zone)
    bad = await seed.task(bad_user, NOW, recurrence_type="daily", **done)
    await set_raw(services, "tasks", bad, "due_date", due_date, "timestamptz")
    control_user = await seed.user(email=CONTROL, timezone="America/New_York")
    control = await seed.task(control_user, NOW, recurrence_type="daily", **done)
    counts = await run_job(services, "recurring_tasks", NOW)
    assert (counts["sent"], counts["failed"]) == (1, 1)
    assert [c["due_date"] for c in await seed.children(control)] == [NOW + timedelta(days=1)]
    assert await seed.children(bad) == []
    rows = await ledger_rows(services.engine, "recurring_task")
    assert [(r["entity_id"], r["status"]) for r in rows] == [(bad, "failed")]


async def test_an_accepted_send_is_recorded_sent_whatever_another_row_of_its_batch_does(
    services: Services, seed: SeedData, mailbox: CaptureServer
) -> None:
    """Rows that reach ``dispatch`` unchecked, and a step after sending that raises: each
    costs its own slot, and every message the server accepted is recorded ``sent``."""
    user = await seed.user(email=CONTROL)

    async def broken_step(conn: object) -> None:
        raise RuntimeError("a host table refused the update")

    def delivery(n: int, address: str, **extra: object) -> Delivery:
        key = SlotKey("task_due", user, user, NOW + timedelta(minutes=n))
        context = {"user_name": "Pat", "task_title": "T", "description": None, "priority": None}
        context |= {"due_local_long": "x", "due_local_short": "x", "zone_label": "UTC"}
        context |= {"due_phrase": "soon", "task_url": "u", "settings_url": "u"}
        return Delivery(key, address, context, NOW + timedelta(hours=1), **extra)  # type: ignore[arg-type]

    batch = [
        delivery(1, CONTROL),
        delivery(2, "someone@example.com\n"),
        delivery(3, CONTROL, after_sent=broken_step),
        delivery(4, CONTROL),
    ]
    counts = await dispatch(services, batch, [], now=NOW)
    assert (counts.sent, counts.failed) == (3, 1)
    assert len(mailbox.messages) == 3
    rows = {r["slot"]: r for r in await ledger_rows(services.engine)}
    by_minute = {int((slot - NOW).total_seconds() // 60): row for slot, row in rows.items()}
    assert {m: r["status"] for m, r in by_minute.items()} == {
        1: "sent",
        2: "failed",
        3: "sent",
        4: "sent",
    }
    assert by_minute[2]["last_error"] == "missing or malformed email address"
    assert by_minute[3]["last_error"] == "after sending: unexpected error: RuntimeError"


@pytest.mark.parametrize("minutes", ["[" + "9" * 5000 + "]", "[" * 3000 + "]" * 3000])
async def test_offsets_python_cannot_parse_cost_their_user_alone(
    services: Services, seed: SeedData, mailbox: CaptureServer, minutes: str
) -> None:
    bad = await due_everywhere(seed, NOW, "unparsable@example.com")
    async with services.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE notification_settings SET appointment_reminder_minutes = "
                "CAST(CAST(:v AS text) AS json) WHERE user_id = :u"
            ),
            {"v": minutes, "u": bad.user_id},
        )
    await due_everywhere(seed, NOW, CONTROL)
    counts = await run_job(services, "appointment_reminders", NOW)
    assert kinds_to(mailbox.messages, CONTROL) == {"appointment_reminder": 1}
    assert (counts["sent"], counts["failed"]) == (1, 1)
    rows = {r["user_id"]: r for r in await ledger_rows(services.engine, "appointment_reminder")}
    assert "not a list" in rows[bad.user_id]["last_error"]


async def test_a_recurring_instance_the_host_refuses_fails_alone(
    services: Services, seed: SeedData
) -> None:
    """A host trigger refuses one new instance; the other task still gets its instance,
    and the refused one is recorded, processed, and not tried again every tick."""
    done: dict[str, Any] = {"completed": True, "status": "completed", "is_recurring": True}
    user = await seed.user(email=CONTROL)
    refused = await seed.task(user, NOW, title="refused", recurrence_type="daily", **done)
    control = await seed.task(user, NOW, title="kept", recurrence_type="daily", **done)
    async with services.engine.begin() as conn:
        for statement in REFUSING_TRIGGER:
            await conn.execute(text(statement))
    counts = await run_job(services, "recurring_tasks", NOW)
    assert (counts["sent"], counts["failed"]) == (1, 1)
    assert [c["title"] for c in await seed.children(control)] == ["kept"]
    rows = await ledger_rows(services.engine, "recurring_task")
    assert [(r["entity_id"], r["status"]) for r in rows] == [(refused, "failed")]
    assert rows[0]["last_error"].startswith("the new instance was refused")
    assert (await run_job(services, "recurring_tasks", NOW))["selected"] == 0


REFUSING_TRIGGER = (
    """CREATE FUNCTION refuse_instance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.title = 'refused' AND NEW.parent_task_id IS NOT NULL THEN
    RAISE EXCEPTION 'the host refuses this row';
  END IF;
  RETURN NEW;
END $$""",
    "CREATE TRIGGER refuse_instance BEFORE INSERT ON tasks "
    "FOR EACH ROW EXECUTE FUNCTION refuse_instance()",
)
