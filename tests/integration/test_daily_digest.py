"""Contract rules of ``daily_digest`` against real PostgreSQL and a real SMTP server."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, time, timedelta

import pytest
from structlog.testing import capture_logs

from notifier.app import Services
from notifier.config import Settings
from notifier.content.mime import slot_message_id
from notifier.services import local_time
from notifier.services.daily_digest import DIGEST, run_tick
from notifier.timemath.windows import catch_up_window
from tests.support.ledger import ledger_rows
from tests.support.local_time_data import LocalTimeData, midnight, parts, utc
from tests.support.processes import run_notifier, service_env
from tests.support.smtp import CaptureServer

KIND = "daily_digest"
SEC = timedelta(seconds=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def people(services: Services) -> LocalTimeData:
    return LocalTimeData(services.engine)


async def slots(services: Services) -> list[tuple[object, str]]:
    return [(r["slot"], r["status"]) for r in await ledger_rows(services.engine, KIND)]


# (zone, digest time, local date, due instant): the zones of issue 3 that trip naive designs.
ZONES = [
    ("Asia/Kathmandu", time(7, 0), date(2026, 1, 5), utc(2026, 1, 5, 1, 15)),
    ("Australia/Eucla", time(7, 0), date(2026, 1, 5), utc(2026, 1, 4, 22, 15)),
    ("Pacific/Kiritimati", time(7, 0), date(2026, 1, 5), utc(2026, 1, 4, 17, 0)),
    ("Pacific/Pago_Pago", time(7, 0), date(2026, 1, 5), utc(2026, 1, 5, 18, 0)),
    ("Australia/Lord_Howe", time(2, 15), date(2026, 10, 4), utc(2026, 10, 3, 15, 45)),
    ("Australia/Lord_Howe", time(1, 45), date(2026, 4, 5), utc(2026, 4, 4, 14, 45)),
    ("America/New_York", time(7, 0), date(2026, 3, 8), utc(2026, 3, 8, 11, 0)),
    ("America/New_York", time(7, 0), date(2026, 11, 1), utc(2026, 11, 1, 12, 0)),
    ("Europe/London", time(7, 0), date(2026, 3, 29), utc(2026, 3, 29, 6, 0)),
    ("Europe/London", time(1, 30), date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),
]


@pytest.mark.parametrize(("zone", "at", "day", "due"), ZONES)
async def test_sent_at_the_digest_time_of_each_local_date_in_the_users_zone(
    services: Services,
    people: LocalTimeData,
    mailbox: CaptureServer,
    zone: str,
    at: time,
    day: date,
    due: datetime,
) -> None:
    await people.digest_user(zone, digest_time=at)
    assert (await run_tick(services, due - SEC)).sent == 0
    assert mailbox.messages == []
    assert (await run_tick(services, due)).sent == 1
    assert await slots(services) == [(midnight(day), "sent")]
    subject, _, _ = parts(mailbox.messages[0])
    assert f"{day:%A} {day.day} {day:%B %Y}" in subject


async def test_the_zone_is_the_users_else_the_workspaces_else_utc(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    nepal = await people.workspace("Asia/Kathmandu")
    inherits = await people.digest_user(None, nepal)
    own = await people.digest_user("Pacific/Pago_Pago", nepal)
    plain = await people.user(None, timezone=None, settings={"digest_enabled": True})
    await people.set_user(plain, workspace_id=None)
    sent_at: dict[object, datetime] = {}
    for now in (utc(2026, 1, 5, 1, 15), utc(2026, 1, 5, 7, 0), utc(2026, 1, 5, 18, 0)):
        await run_tick(services, now)
        for row in await ledger_rows(services.engine, KIND):
            sent_at.setdefault(row["user_id"], now)
    assert sent_at == {
        inherits: utc(2026, 1, 5, 1, 15),
        plain: utc(2026, 1, 5, 7, 0),
        own: utc(2026, 1, 5, 18, 0),
    }


async def test_a_time_in_the_spring_forward_gap_is_sent_one_gap_later(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    await people.digest_user("America/New_York", digest_time=time(2, 30))
    assert (await run_tick(services, utc(2026, 3, 8, 7, 30) - SEC)).sent == 0
    assert (await run_tick(services, utc(2026, 3, 8, 7, 30))).sent == 1
    assert await slots(services) == [(midnight(date(2026, 3, 8)), "sent")]


async def test_a_repeated_local_time_is_sent_once_at_its_first_occurrence(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    await people.digest_user("America/New_York", digest_time=time(1, 30))
    assert (await run_tick(services, utc(2026, 11, 1, 5, 30) - SEC)).sent == 0
    assert (await run_tick(services, utc(2026, 11, 1, 5, 30))).sent == 1
    # 01:30 EST, the second 01:30, is 06:30 UTC: nothing more.
    second = await run_tick(services, utc(2026, 11, 1, 6, 30))
    assert (second.selected, second.sent) == (0, 0)
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize(
    ("catch_up", "late_minutes", "sent"), [(60, 59, 1), (60, 61, 0), (15, 14, 1), (15, 16, 0)]
)
async def test_a_late_tick_sends_what_fell_due_inside_the_catch_up_window_only(
    services: Services,
    people: LocalTimeData,
    mailbox: CaptureServer,
    catch_up: int,
    late_minutes: int,
    sent: int,
) -> None:
    services.settings.catch_up_minutes = catch_up
    await people.digest_user("Asia/Kathmandu")
    due = utc(2026, 1, 5, 1, 15)
    assert (await run_tick(services, due + timedelta(minutes=late_minutes))).sent == sent
    assert len(mailbox.messages) == sent


async def test_ticks_every_minute_send_each_date_once(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    await people.digest_user("Australia/Eucla")
    due = utc(2026, 1, 4, 22, 15)
    sent = [(await run_tick(services, due + k * timedelta(minutes=1))).sent for k in range(-2, 5)]
    assert sent == [0, 0, 1, 0, 0, 0, 0]


async def test_a_new_zone_or_time_after_todays_digest_brings_no_second_one(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    user = await people.digest_user("Europe/London")
    assert (await run_tick(services, utc(2026, 3, 10, 7, 0))).sent == 1
    # 07:00 in New York on the same local date is 11:00 UTC.
    await people.set_user(user, timezone="America/New_York")
    assert (await run_tick(services, utc(2026, 3, 10, 11, 0))).sent == 0
    await people.set_settings(user, digest_time=time(9, 0))
    assert (await run_tick(services, utc(2026, 3, 10, 13, 0))).sent == 0
    # The next local date is a new slot, at the new zone and time.
    assert (await run_tick(services, utc(2026, 3, 11, 13, 0))).sent == 1
    assert await slots(services) == [
        (midnight(date(2026, 3, 10)), "sent"),
        (midnight(date(2026, 3, 11)), "sent"),
    ]


async def test_a_changed_workspace_zone_moves_its_users_digest(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    space = await people.workspace("Europe/London")
    await people.digest_user(None, space)
    await people.set_workspace(space, timezone="Asia/Tokyo")
    # 07:00 in Tokyo on 2026-03-10 is 22:00 UTC on 2026-03-09.
    assert (await run_tick(services, utc(2026, 3, 10, 7, 0))).sent == 0
    assert (await run_tick(services, utc(2026, 3, 9, 22, 0))).sent == 1


async def test_skip_weekends_reads_the_users_local_date(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    # 07:00 on Saturday 7 March in Auckland is Friday 18:00 UTC: skipped.
    await people.digest_user("Pacific/Auckland", digest_skip_weekends=True)
    # 19:00 on Friday 6 March in Los Angeles is Saturday 03:00 UTC: sent.
    angeleno = await people.digest_user(
        "America/Los_Angeles", digest_skip_weekends=True, digest_time=time(19, 0)
    )
    assert (await run_tick(services, utc(2026, 3, 6, 18, 0))).selected == 0
    counts = await run_tick(services, utc(2026, 3, 7, 3, 0))
    assert counts.sent == 1
    [row] = await ledger_rows(services.engine, KIND)
    assert (row["user_id"], row["slot"]) == (angeleno, midnight(date(2026, 3, 6)))


async def test_without_skip_weekends_saturday_is_sent(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    await people.digest_user("Pacific/Auckland")
    assert (await run_tick(services, utc(2026, 3, 6, 18, 0))).sent == 1


async def test_apia_skipped_date_gets_nothing_and_breaks_nothing(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    await people.digest_user("Pacific/Apia")
    start = utc(2011, 12, 29, 0, 0)
    for hour in range(0, 72, 1):
        await run_tick(services, start + hour * HOUR)
    assert await slots(services) == [
        (midnight(date(2011, 12, 29)), "sent"),
        (midnight(date(2011, 12, 31)), "sent"),
        (midnight(date(2012, 1, 1)), "sent"),
    ]


@pytest.mark.parametrize(
    ("is_active", "prefs"),
    [
        (False, {"digest_enabled": True}),
        (True, {"digest_enabled": True, "email_enabled": False}),
        (True, {"digest_enabled": False}),
        (True, None),  # no settings row: the digest is off by default
    ],
)
async def test_inactive_users_and_disabled_settings_get_nothing(
    services: Services,
    people: LocalTimeData,
    mailbox: CaptureServer,
    is_active: bool,
    prefs: dict[str, bool] | None,
) -> None:
    await people.user(timezone="UTC", is_active=is_active, settings=prefs)
    counts = await run_tick(services, utc(2026, 3, 10, 7, 0))
    assert (counts.selected, counts.sent) == (0, 0)
    assert mailbox.messages == []


async def test_a_setting_disabled_after_selection_is_seen_at_send_time(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    user = await people.digest_user("UTC")
    now = utc(2026, 3, 10, 7, 0)
    window = catch_up_window(now, timedelta(minutes=60))
    async with services.engine.connect() as conn:
        ids = await local_time.candidate_ids(conn, DIGEST, window)
    assert ids == [user]
    await people.set_settings(user, email_enabled=False)
    ctx = local_time.TickContext(window, timedelta(minutes=60), "https://app.test")
    counts = await local_time._process(services, DIGEST, ids, ctx, now)
    assert counts.sent == 0 and mailbox.messages == []


async def test_the_digest_lists_that_days_scheduled_appointments_in_time_order(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    space = await people.workspace("America/New_York")
    user = await people.digest_user(None, space, digest_time=time(6, 0))
    other_user = await people.user(space, timezone=None)
    other_space = await people.workspace("America/New_York")
    client = await people.client(space, "Casey <Client>")
    # 2026-03-10 in New York (EDT, UTC-4) runs from 04:00 to 04:00 UTC.
    listed = [
        await people.appointment_in(space, user, utc(2026, 3, 10, 18, 30), client_id=client),
        await people.appointment_in(
            space, user, utc(2026, 3, 10, 13, 0), location=None, service_name=None
        ),
        await people.appointment_in(space, user, utc(2026, 3, 10, 4, 0)),  # 00:00 local
        await people.appointment_in(space, user, utc(2026, 3, 11, 3, 59)),  # 23:59 local
    ]
    for starts, owner, ws, status in [
        (utc(2026, 3, 10, 15, 0), other_user, space, "scheduled"),
        (utc(2026, 3, 10, 15, 0), user, other_space, "scheduled"),
        (utc(2026, 3, 10, 16, 0), user, space, "cancelled"),
        (utc(2026, 3, 10, 3, 59), user, space, "scheduled"),  # 23:59 the day before
        (utc(2026, 3, 11, 4, 0), user, space, "scheduled"),  # 00:00 the day after
    ]:
        await people.appointment_in(ws, owner, starts, status=status, location="NOT LISTED")
    assert (await run_tick(services, utc(2026, 3, 10, 10, 0))).sent == 1
    [captured] = mailbox.messages
    subject, text, html = parts(captured)
    assert subject == "Your day: Tuesday 10 March 2026, 4 appointments"
    assert "NOT LISTED" not in text and "NOT LISTED" not in html
    assert text.index("00:00") < text.index("09:00") < text.index("14:30") < text.index("23:59")
    assert "America/New_York, EDT" in text and "No location given" in text
    assert "Casey <Client>" in text and "Casey &lt;Client&gt;" in html and "<Client>" not in html
    for appointment in listed:
        assert f"https://app.practice.test/appointments/{appointment}" in html
    msg = captured.parsed()
    assert msg["X-Notification-Kind"] == KIND and msg["To"] == "pat@example.com"
    assert msg["Message-ID"] == slot_message_id(
        KIND, user, user, midnight(date(2026, 3, 10)), "practice.test"
    )


async def test_an_empty_day_says_so_and_is_still_sent(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    space = await people.workspace("Asia/Kathmandu")
    user = await people.digest_user(None, space)
    await people.appointment_in(space, user, utc(2026, 1, 5, 9, 0), status="cancelled")
    assert (await run_tick(services, utc(2026, 1, 5, 1, 15))).sent == 1
    subject, text, html = parts(mailbox.messages[0])
    assert subject == "Your day: Monday 5 January 2026, no appointments"
    assert "You have no appointments scheduled for this day." in text
    assert "You have no appointments scheduled for this day." in html


async def test_on_a_dst_day_the_list_follows_the_local_date(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    # 2026-11-01 in New York lasts 25 hours: 04:00 UTC to 05:00 UTC the next day.
    space = await people.workspace("America/New_York")
    user = await people.digest_user(None, space)
    await people.appointment_in(space, user, utc(2026, 11, 1, 5, 30))  # 01:30 EDT
    await people.appointment_in(space, user, utc(2026, 11, 1, 6, 30))  # 01:30 EST
    await people.appointment_in(space, user, utc(2026, 11, 2, 4, 30))  # 23:30 EST
    await run_tick(services, utc(2026, 11, 1, 12, 0))
    subject, text, _ = parts(mailbox.messages[0])
    assert "3 appointments" in subject
    # The header names EST (the zone at 07:00); the earlier 01:30 is marked EDT.
    assert "(America/New_York, EST)" in text and "01:30 EDT" in text
    assert text.count("01:30") == 2 and "23:30" in text


async def test_an_unknown_zone_costs_its_user_alone_and_is_logged_by_id(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    ok = await people.digest_user("UTC")
    lost = await people.digest_user("Mars/Olympus_Mons")
    no_email = await people.user(
        timezone="UTC", email="not an address", settings={"digest_enabled": True}
    )
    with capture_logs() as logs:
        counts = await run_tick(services, utc(2026, 3, 10, 7, 0))
    assert (counts.sent, counts.failed) == (1, 2)
    rows = {r["user_id"]: r for r in await ledger_rows(services.engine, KIND)}
    assert rows[ok]["status"] == "sent"
    assert rows[lost]["status"] == "failed" and rows[lost]["last_error"] == "unknown time zone"
    assert rows[no_email]["status"] == "failed"
    failures = [entry for entry in logs if entry["event"] == "slot_failed"]
    assert {entry["user_id"] for entry in failures} == {str(lost), str(no_email)}
    assert "Mars" not in repr(logs) and "not an address" not in repr(logs)
    # Recorded once: the next tick of the window does not select them again.
    assert (await run_tick(services, utc(2026, 3, 10, 7, 30))).selected == 0


async def test_two_ticks_at_once_send_one_digest(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    for i in range(20):
        await people.user(
            timezone="Asia/Kathmandu", email=f"u{i}@example.com", settings={"digest_enabled": True}
        )
    now = utc(2026, 1, 5, 1, 15)
    first, second = await asyncio.gather(run_tick(services, now), run_tick(services, now))
    assert first.sent + second.sent == 20
    assert len(mailbox.messages) == 20


async def test_the_hosts_tz_changes_nothing(
    services: Services, settings: Settings, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    space = await people.workspace("Pacific/Auckland")
    user = await people.digest_user(None, space, digest_skip_weekends=True)
    await people.digest_user("America/Los_Angeles", digest_time=time(19, 0))
    await people.appointment_in(space, user, utc(2026, 3, 8, 20, 0))  # Monday 09:00 NZDT
    runs = []
    for host_tz in ("Pacific/Auckland", "America/Los_Angeles"):
        outputs = []
        for at in ("2026-03-06T18:00:00Z", "2026-03-07T03:00:00Z", "2026-03-08T18:00:00Z"):
            env = service_env(settings, TZ=host_tz)
            result = await asyncio.to_thread(run_notifier, ["run", "daily_digest", "--at", at], env)
            assert result.returncode == 0, result.stderr
            outputs.append(json.loads(result.stdout))
        ledger = sorted((r["user_id"], r["slot"]) for r in await ledger_rows(services.engine, KIND))
        bodies = sorted(parts(m)[1] for m in mailbox.messages)
        runs.append((outputs, ledger, bodies))
        async with services.engine.begin() as conn:
            await conn.exec_driver_sql("DELETE FROM reminders_sent")
        mailbox.handler.clear()
    assert runs[0] == runs[1]
    outputs, ledger, bodies = runs[0]
    assert [o["sent"] for o in outputs] == [0, 1, 1]
    assert "09:00" in "".join(bodies)


async def test_a_user_added_after_earlier_ticks_is_found_by_the_next_tick(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    # Earlier ticks moved every row they read on to its next instant; a new row (in a zone
    # nobody used before) starts "not computed", so the next tick reads it.
    await people.digest_user("America/New_York", digest_time=time(7, 0))
    assert (await run_tick(services, utc(2026, 1, 5, 12, 0))).sent == 1
    assert (await run_tick(services, utc(2026, 1, 6, 1, 0))).sent == 0
    await people.digest_user("Asia/Kathmandu", digest_time=time(7, 0))
    assert (await run_tick(services, utc(2026, 1, 6, 1, 15))).sent == 1
