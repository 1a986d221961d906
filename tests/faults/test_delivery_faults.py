"""SMTP refusals, transient failures, bad rows and crashed ticks, in process (fast)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from jinja2 import DictLoader, Environment
from sqlalchemy import insert, select
from structlog.testing import capture_logs

from notifier.app import Services
from notifier.channels.registry import build_channels
from notifier.db.schema import job_runs
from notifier.jobs.runs import run_recorded
from notifier.services.appointment_reminders import run_tick
from tests.support.data import Data
from tests.support.ledger import ledger_rows
from tests.support.smtp import CaptureServer

START = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
DUE = START - timedelta(minutes=60)


async def test_a_recipient_refused_with_550_is_failed_and_not_retried(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    mailbox.handler.reject = {"gone@example.com"}
    users = [
        await data.user(email=e) for e in ("a@example.com", "gone@example.com", "b@example.com")
    ]
    for user in users:
        await data.appointment(user, START)
    counts = await run_tick(services, DUE)
    assert (counts.sent, counts.failed) == (2, 1)
    rows = {r["user_id"]: r for r in await ledger_rows(services.engine)}
    refused = rows[users[1]]
    assert (refused["status"], refused["attempts"]) == ("failed", 1)
    assert "550" in refused["last_error"]
    again = await run_tick(services, DUE + timedelta(minutes=1))
    assert again.sent == 0 and len(mailbox.messages) == 2


async def test_transient_4xx_is_retried_with_backoff_then_sent_once(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    mailbox.handler.tempfail = {"busy@example.com": 2}
    user = await data.user(email="busy@example.com")
    await data.appointment(user, START)
    counts = await run_tick(services, DUE)
    assert counts.sent == 1
    [row] = await ledger_rows(services.engine)
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert len(mailbox.messages) == 1


async def test_transient_failures_beyond_the_attempts_release_the_slot_for_a_later_tick(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    services.settings.smtp_max_attempts = 2
    mailbox.handler.tempfail = {"busy@example.com": 3}
    user = await data.user(email="busy@example.com")
    await data.appointment(user, START)
    first = await run_tick(services, DUE)
    assert (first.sent, first.deferred) == (0, 1)
    [row] = await ledger_rows(services.engine)
    assert (row["status"], row["attempts"], row["lease_until"]) == ("pending", 2, None)
    second = await run_tick(services, DUE + timedelta(minutes=1))
    assert second.sent == 1
    [row] = await ledger_rows(services.engine)
    assert (row["status"], row["attempts"]) == ("sent", 4)
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize(
    "minutes", [[-5], ["abc"], [1000000000], "60", {"minutes": 60}, 60, [None]]
)
async def test_bad_reminder_minutes_cost_only_their_user_and_are_logged_by_id(
    services: Services, data: Data, mailbox: CaptureServer, minutes: object
) -> None:
    good = await data.user(email="good@example.com")
    bad = await data.user(
        email="bad@example.com", settings={"appointment_reminder_minutes": minutes}
    )
    await data.appointment(good, START)
    bad_appt = await data.appointment(bad, START)
    with capture_logs() as logs:
        counts = await run_tick(services, DUE)
    assert (counts.sent, counts.failed) == (1, 1)
    [failed] = [r for r in await ledger_rows(services.engine) if r["status"] == "failed"]
    assert (
        failed["entity_id"] == bad_appt and "appointment_reminder_minutes" in failed["last_error"]
    )
    [event] = [e for e in logs if e["event"] == "slot_failed"]
    assert event["entity_id"] == str(bad_appt) and event["user_id"] == str(bad)
    assert "bad@example.com" not in repr(logs)


async def test_a_template_error_for_one_record_costs_that_record_only(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    services.templates = Environment(
        loader=DictLoader(
            {
                "appointment_reminder/subject.txt": "{{ 1 // (client_name != 'Boom') }} x",
                "appointment_reminder/body.txt": "text",
                "appointment_reminder/body.html": "<p>html</p>",
            }
        ),
        autoescape=True,
    )
    services.channels = build_channels(
        services.settings, services.templates, services.smtp, services.webhooks, services.clock
    )
    ws = await data.workspace()
    boom = await data.user(ws, email="boom@example.com")
    fine = await data.user(ws, email="fine@example.com")
    await data.appointment(boom, START, client_id=await data.client(ws, "Boom"))
    await data.appointment(fine, START, client_id=await data.client(ws, "Fine"))
    counts = await run_tick(services, DUE)
    assert (counts.sent, counts.failed) == (1, 1)
    assert [m.rcpt_tos for m in mailbox.messages] == [["fine@example.com"]]
    [failed] = [r for r in await ledger_rows(services.engine) if r["status"] == "failed"]
    assert failed["user_id"] == boom and "template error" in failed["last_error"]


async def test_a_run_left_running_by_a_killed_process_is_closed_as_failed(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    stale = uuid.uuid4()
    long_ago = datetime.now(UTC) - timedelta(minutes=30)
    async with services.engine.begin() as conn:
        await conn.execute(
            insert(job_runs).values(
                id=stale,
                job_name="appointment_reminders",
                run_id="killed",
                status="running",
                scheduled_for=long_ago,
                started_at=long_ago,
            )
        )
    await run_recorded(services, "appointment_reminders", DUE)
    async with services.engine.connect() as conn:
        rows = {r["run_id"]: r for r in (await conn.execute(select(job_runs))).mappings()}
    assert rows["killed"]["status"] == "failed" and "abandoned" in rows["killed"]["error"]
    assert [r["status"] for r in rows.values() if r["run_id"] != "killed"] == ["succeeded"]


async def test_a_tick_that_raises_is_recorded_failed_not_running(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    await services.engine.dispose()
    services.settings.catch_up_minutes = 60
    async with services.engine.begin() as conn:
        await conn.exec_driver_sql("ALTER TABLE appointments RENAME TO appointments_gone")
    with pytest.raises(Exception, match="appointments"):
        await run_recorded(services, "appointment_reminders", DUE)
    async with services.engine.connect() as conn:
        [run] = (await conn.execute(select(job_runs))).mappings().all()
    assert run["status"] == "failed" and run["finished_at"] is not None
    # A host relation that is not there is named as notifier check names it (section 12).
    assert run["error"] == "host relations: public.appointments: missing (no table or view)"
