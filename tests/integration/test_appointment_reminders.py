"""Contract rules of ``appointment_reminder`` against real PostgreSQL and a real SMTP server."""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import update

from notifier.app import Services
from notifier.config import Settings
from notifier.content.mime import slot_message_id
from notifier.db.schema import appointments, notification_settings
from notifier.delivery.ledger import SlotKey
from notifier.services import appointment_reminders as svc
from notifier.services.appointment_reminders import run_tick
from notifier.services.batches import BatchedJob
from notifier.services.counts import TickCounts
from notifier.timemath.windows import catch_up_window
from tests.support.clock import SetClock, clocked_services
from tests.support.data import Data
from tests.support.ledger import insert_claim, ledger_rows
from tests.support.smtp import CaptureServer

START = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
SEC = timedelta(seconds=1)


def body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


@pytest.mark.parametrize("minutes", [15, 30, 60, 120, 1440])
async def test_each_offset_is_sent_at_its_real_duration_before_start(
    services: Services, data: Data, mailbox: CaptureServer, minutes: int
) -> None:
    user = await data.user(settings={"appointment_reminder_minutes": [minutes]})
    await data.appointment(user, START)
    due = START - timedelta(minutes=minutes)

    early = await run_tick(services, due - SEC)
    assert early.sent == 0 and mailbox.messages == []

    counts = await run_tick(services, due)
    assert counts.sent == 1
    [row] = await ledger_rows(services.engine)
    assert (row["slot"], row["status"]) == (due, "sent")
    assert len(mailbox.messages) == 1


async def test_day_before_reminder_is_24_elapsed_hours_across_spring_forward(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    # 12:00 EDT on 2026-03-08 (16:00Z); 24 h earlier is 11:00 EST, not 12:00 local.
    user = await data.user(
        timezone="America/New_York", settings={"appointment_reminder_minutes": [1440]}
    )
    starts = datetime(2026, 3, 8, 16, 0, tzinfo=UTC)
    await data.appointment(user, starts)
    assert (await run_tick(services, datetime(2026, 3, 7, 15, 59, 59, tzinfo=UTC))).sent == 0
    assert (await run_tick(services, datetime(2026, 3, 7, 16, 0, tzinfo=UTC))).sent == 1
    [row] = await ledger_rows(services.engine)
    assert row["slot"] == starts - timedelta(hours=24)


@pytest.mark.parametrize("status", ["cancelled", "completed"])
async def test_only_scheduled_appointments_are_reminded(
    services: Services, data: Data, mailbox: CaptureServer, status: str
) -> None:
    user = await data.user()
    await data.appointment(user, START, status=status)
    counts = await run_tick(services, START - timedelta(minutes=60))
    assert counts.selected == 0 and mailbox.messages == []
    assert await ledger_rows(services.engine) == []


async def test_an_appointment_that_has_started_gets_nothing(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    user = await data.user(settings={"appointment_reminder_minutes": [15]})
    await data.appointment(user, START)
    # The 15-minute slot is inside the catch-up window, but the appointment began.
    counts = await run_tick(services, START)
    assert counts.sent == 0 and mailbox.messages == []


async def test_cancellation_after_selection_is_seen_at_send_time(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    user = await data.user()
    appt = await data.appointment(user, START)
    now = START - timedelta(minutes=60)
    window = catch_up_window(now, timedelta(minutes=60))
    async with services.engine.connect() as conn:
        ids = await svc.candidate_ids(conn, window, now)
    assert ids == [appt]
    async with services.engine.begin() as conn:
        await conn.execute(
            update(appointments).where(appointments.c.id == appt).values(status="cancelled")
        )
    counts = await svc._process(services, ids, window, now)
    assert counts.sent == 0 and mailbox.messages == []


async def test_a_later_batch_of_a_long_tick_sees_that_the_appointment_began(
    settings: Settings, mailbox: CaptureServer
) -> None:
    """``notifier run`` sends batch after batch; one that runs after the start sends nothing."""
    clock = SetClock(START - timedelta(minutes=60))
    async with clocked_services(settings.model_copy(update={"batch_size": 1}), clock) as services:
        data = Data(services.engine)
        for address in ("first@example.com", "second@example.com"):
            await data.appointment(await data.user(email=address), START)
        first_batch = svc.JOB.process_batch

        async def slow_batch(*args: Any) -> TickCounts:
            counts = await first_batch(*args)
            clock.at = START + timedelta(minutes=1)  # this batch took until after the start
            return counts

        slow = BatchedJob(svc.JOB.due_ids, slow_batch)
        counts = await slow.run_tick(services, START - timedelta(minutes=60))
    assert (counts.sent, len(mailbox.messages)) == (1, 1)


@pytest.mark.parametrize(
    ("catch_up", "late_minutes", "sent"),
    [(60, 59, 1), (60, 61, 0), (10, 9, 1), (10, 11, 0)],
)
async def test_a_late_tick_sends_what_fell_due_inside_the_catch_up_window_only(
    services: Services,
    data: Data,
    mailbox: CaptureServer,
    catch_up: int,
    late_minutes: int,
    sent: int,
) -> None:
    services.settings.catch_up_minutes = catch_up
    user = await data.user(settings={"appointment_reminder_minutes": [120]})
    await data.appointment(user, START)
    due = START - timedelta(minutes=120)
    counts = await run_tick(services, due + timedelta(minutes=late_minutes))
    assert counts.sent == sent
    assert len(mailbox.messages) == sent


async def test_when_several_offsets_are_due_only_the_smallest_is_sent(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    user = await data.user(settings={"appointment_reminder_minutes": [15, 30, 60]})
    await data.appointment(user, START)
    # A worker down from 65 to 25 minutes before the start: the 60 and 30 slots are both due.
    counts = await run_tick(services, START - timedelta(minutes=25))
    assert (counts.sent, counts.skipped) == (1, 1)
    rows = {r["slot"]: r["status"] for r in await ledger_rows(services.engine)}
    assert rows == {
        START - timedelta(minutes=60): "skipped",
        START - timedelta(minutes=30): "sent",
    }
    [msg] = mailbox.messages
    assert "in 25 minutes" in str(msg.parsed()["Subject"])


async def test_a_rescheduled_appointment_is_reminded_for_its_new_time(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    user = await data.user()
    appt = await data.appointment(user, START)
    assert (await run_tick(services, START - timedelta(minutes=60))).sent == 1
    new_start = START + timedelta(hours=3)
    async with services.engine.begin() as conn:
        await conn.execute(
            update(appointments).where(appointments.c.id == appt).values(starts_at=new_start)
        )
    assert (await run_tick(services, new_start - timedelta(minutes=60))).sent == 1
    slots = [r["slot"] for r in await ledger_rows(services.engine)]
    assert slots == [START - timedelta(minutes=60), new_start - timedelta(minutes=60)]
    assert len(mailbox.messages) == 2


@pytest.mark.parametrize(
    ("is_active", "prefs", "reason"),
    [
        (False, None, "user is inactive"),
        (True, {"email_enabled": False}, "notifications are off (email_enabled)"),
        (True, {"appointment_reminders_enabled": False}, "appointment reminders are off"),
    ],
)
async def test_disabled_users_and_settings_get_nothing_and_are_recorded_skipped(
    services: Services,
    data: Data,
    mailbox: CaptureServer,
    is_active: bool,
    prefs: dict[str, bool] | None,
    reason: str,
) -> None:
    """The one behaviour of the recipient policy, as for every kind: skipped, with why."""
    user = await data.user(is_active=is_active, settings=prefs)
    await data.appointment(user, START)
    control = await data.user(email="control@example.com")
    await data.appointment(control, START)
    counts = await run_tick(services, START - timedelta(minutes=60))
    assert (counts.sent, counts.skipped) == (1, 1)
    assert [m.rcpt_tos for m in mailbox.messages] == [["control@example.com"]]
    row = next(r for r in await ledger_rows(services.engine) if r["user_id"] == user)
    assert (row["status"], row["last_error"]) == ("skipped", reason)


async def test_a_setting_disabled_after_a_first_reminder_stops_the_next(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    user = await data.user(settings={"appointment_reminder_minutes": [15, 60]})
    await data.appointment(user, START)
    assert (await run_tick(services, START - timedelta(minutes=60))).sent == 1
    async with services.engine.begin() as conn:
        await conn.execute(
            update(notification_settings)
            .where(notification_settings.c.user_id == user)
            .values(email_enabled=False)
        )
    assert (await run_tick(services, START - timedelta(minutes=15))).sent == 0
    assert len(mailbox.messages) == 1


async def test_a_user_without_settings_row_gets_the_default_60_minutes(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    user = await data.user(settings=None)
    await data.appointment(user, START)
    assert (await run_tick(services, START - timedelta(minutes=60) - SEC)).sent == 0
    assert (await run_tick(services, START - timedelta(minutes=60))).sent == 1
    assert (await run_tick(services, START - timedelta(minutes=15))).sent == 0
    assert len(mailbox.messages) == 1


async def test_a_second_tick_for_the_same_instant_sends_nothing_again(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    user = await data.user()
    for hour in range(5):
        await data.appointment(user, START + timedelta(minutes=hour))
    now = START + timedelta(minutes=4) - timedelta(minutes=60)
    first = await run_tick(services, now)
    second = await run_tick(services, now)
    assert (first.sent, second.sent, second.already_done) == (5, 0, 5)
    assert len(mailbox.messages) == 5


async def test_the_email_says_who_when_in_the_users_zone_and_where(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    ws = await data.workspace("Europe/Berlin")
    user = await data.user(ws, email="dr.who@example.com", full_name="Dr <b>Who</b>")
    client = await data.client(ws, full_name="<script>alert(1)</script>")
    appt = await data.appointment(
        user, START, client_id=client, location="Praxis & Co, Raum 2", service_name="Therapie"
    )
    await run_tick(services, START - timedelta(minutes=60))
    [captured] = mailbox.messages
    assert captured.rcpt_tos == ["dr.who@example.com"]
    msg = captured.parsed()
    assert msg["X-Notification-Kind"] == "appointment_reminder"
    assert msg["To"] == "dr.who@example.com"
    assert msg["From"] == "notifier@practice.test"
    assert msg["Date"] is not None
    slot = START - timedelta(minutes=60)
    assert msg["Message-ID"] == slot_message_id(
        "appointment_reminder", appt, user, slot, "practice.test"
    )
    assert msg.is_multipart() and msg.get_content_type() == "multipart/alternative"
    subject = str(msg["Subject"])
    assert "<script>alert(1)</script>" in subject and "in 1 hour" in subject
    assert "16:00" in subject  # 15:00 UTC is 16:00 in Berlin in March
    text = body(msg, "plain")
    assert "Tuesday 10 March 2026, 16:00 (Europe/Berlin, CET)" in text
    assert "Praxis & Co, Raum 2" in text and "Therapie" in text
    html = body(msg, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Dr &lt;b&gt;Who&lt;/b&gt;" in html and "Praxis &amp; Co" in html
    assert f"https://app.practice.test/appointments/{appt}" in html


async def test_line_breaks_in_values_cannot_add_headers(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    ws = await data.workspace()
    user = await data.user(ws)
    client = await data.client(ws, full_name="Eve\r\nBcc: victim@example.com\r\nX-Evil: 1")
    await data.appointment(user, START, client_id=client)
    await run_tick(services, START - timedelta(minutes=60))
    [captured] = mailbox.messages
    msg = captured.parsed()
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert captured.rcpt_tos == ["pat@example.com"]
    assert "Eve Bcc: victim@example.com X-Evil: 1" in str(msg["Subject"])


async def test_a_resend_of_one_slot_carries_the_same_message_id(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    user = await data.user()
    await data.appointment(user, START)
    now = START - timedelta(minutes=60)
    await run_tick(services, now)
    async with services.engine.begin() as conn:  # an operator re-sends on purpose
        await conn.exec_driver_sql("DELETE FROM reminders_sent")
    await run_tick(services, now)
    first, second = (m.parsed() for m in mailbox.messages)
    assert first["Message-ID"] == second["Message-ID"]
    assert email.policy.default is not None


async def test_bad_rows_cost_only_themselves(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    ok = await data.user(email="ok@example.com")
    bad_zone = await data.user(email="zone@example.com", timezone="Mars/Olympus_Mons")
    no_email = await data.user(email=None)
    bad_email = await data.user(email="not an address\r\nBcc: x@example.com")
    bad_minutes = await data.user(
        email="minutes@example.com", settings={"appointment_reminder_minutes": [-5]}
    )
    for user in (ok, bad_zone, no_email, bad_email, bad_minutes):
        await data.appointment(user, START)
    counts = await run_tick(services, START - timedelta(minutes=60))
    assert (counts.sent, counts.failed) == (1, 4)
    assert [m.rcpt_tos for m in mailbox.messages] == [["ok@example.com"]]
    failed = [r for r in await ledger_rows(services.engine) if r["status"] == "failed"]
    assert {r["user_id"] for r in failed} == {bad_zone, no_email, bad_email, bad_minutes}
    assert all(r["last_error"] for r in failed)


@pytest.mark.parametrize(
    ("lease_left", "sent"), [(timedelta(seconds=-1), 1), (timedelta(minutes=4), 0)]
)
async def test_a_slot_claimed_under_a_live_lease_is_left_to_its_claimant(
    services: Services, data: Data, mailbox: CaptureServer, lease_left: timedelta, sent: int
) -> None:
    """Once the lease ran out (its worker died), the slot is taken over and sent."""
    user = await data.user()
    appt = await data.appointment(user, START)
    due = START - timedelta(minutes=60)
    # Leases are wall-clock time (the other worker's), whatever instant the tick is run for.
    key = SlotKey(svc.KIND.name, appt, user, due)
    await insert_claim(services.engine, key, services.clock() + lease_left)
    counts = await run_tick(services, due + timedelta(minutes=5))
    assert (counts.sent, len(mailbox.messages)) == (sent, sent)
    [row] = await ledger_rows(services.engine)
    assert row["status"] == ("sent" if sent else "pending")
