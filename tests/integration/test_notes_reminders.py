"""Contract rules of ``notes_reminder`` against real PostgreSQL and a real SMTP server."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, time, timedelta

import pytest

from notifier.app import Services
from notifier.config import Settings
from notifier.content.mime import slot_message_id
from notifier.services.notes_reminders import run_tick
from tests.support.ledger import ledger_rows
from tests.support.local_time_data import LocalTimeData, midnight, parts, utc
from tests.support.processes import run_notifier, service_env
from tests.support.smtp import CaptureServer

KIND = "notes_reminder"
SEC = timedelta(seconds=1)


@pytest.fixture
def people(services: Services) -> LocalTimeData:
    return LocalTimeData(services.engine)


async def statuses(services: Services) -> list[tuple[object, object, str]]:
    return [
        (r["user_id"], r["slot"], r["status"]) for r in await ledger_rows(services.engine, KIND)
    ]


# (zone, local date, due instant of 18:00 local): off-the-hour, far east, far west, 30-min DST.
ZONES = [
    ("Asia/Kathmandu", date(2026, 1, 5), utc(2026, 1, 5, 12, 15)),
    ("Australia/Eucla", date(2026, 1, 5), utc(2026, 1, 5, 9, 15)),
    ("Pacific/Kiritimati", date(2026, 1, 5), utc(2026, 1, 5, 4, 0)),
    ("Pacific/Pago_Pago", date(2026, 1, 5), utc(2026, 1, 6, 5, 0)),
    ("Australia/Lord_Howe", date(2026, 1, 5), utc(2026, 1, 5, 7, 0)),
    ("America/New_York", date(2026, 3, 8), utc(2026, 3, 8, 22, 0)),
    ("America/New_York", date(2026, 11, 1), utc(2026, 11, 1, 23, 0)),
    ("Europe/London", date(2026, 3, 29), utc(2026, 3, 29, 17, 0)),
]


@pytest.mark.parametrize(("zone", "day", "due"), ZONES)
async def test_sent_at_the_reminder_time_of_each_local_date_in_the_users_zone(
    services: Services,
    people: LocalTimeData,
    mailbox: CaptureServer,
    zone: str,
    day: date,
    due: datetime,
) -> None:
    user = await people.notes_user(zone)
    await people.session(user)
    assert (await run_tick(services, due - SEC)).sent == 0
    assert (await run_tick(services, due)).sent == 1
    assert await statuses(services) == [(user, midnight(day), "sent")]


async def test_the_reminder_states_the_number_of_drafts_of_any_age(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    user = await people.user(
        timezone="Europe/Berlin",
        full_name="Dr <em>Pat</em>",
        settings={"notes_reminder_enabled": True},
    )
    other = await people.user(timezone="Europe/Berlin")
    for updated in (utc(2019, 5, 1), utc(2025, 12, 31), utc(2026, 3, 10, 12)):
        await people.session(user, updated_at=updated)
    await people.session(user, is_draft=False)
    await people.session(other)
    assert (await run_tick(services, utc(2026, 3, 10, 17, 0))).sent == 1
    [captured] = mailbox.messages
    subject, text, html = parts(captured)
    assert subject == "3 session notes still in draft"
    assert "3 session notes are still in draft (Tuesday 10 March 2026, Europe/Berlin, CET)" in text
    assert "Dr &lt;em&gt;Pat&lt;/em&gt;" in html and "<em>Pat" not in html
    msg = captured.parsed()
    assert msg["X-Notification-Kind"] == KIND
    assert msg["Message-ID"] == slot_message_id(
        KIND, user, user, midnight(date(2026, 3, 10)), "practice.test"
    )


async def test_one_draft_reads_in_the_singular(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    user = await people.notes_user("UTC")
    await people.session(user)
    await run_tick(services, utc(2026, 3, 10, 18, 0))
    subject, text, _ = parts(mailbox.messages[0])
    assert subject == "1 session note still in draft"
    assert "1 session note is still in draft" in text


async def test_with_no_drafts_it_is_recorded_skipped_and_not_sent(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    user = await people.notes_user("UTC")
    await people.session(user, is_draft=False)
    counts = await run_tick(services, utc(2026, 3, 10, 18, 0))
    assert (counts.sent, counts.skipped) == (0, 1)
    assert mailbox.messages == []
    [row] = await ledger_rows(services.engine, KIND)
    assert (row["status"], row["last_error"]) == ("skipped", "no draft session notes")
    # A draft written later that day does not reopen the date; the next date is sent.
    await people.session(user)
    assert (await run_tick(services, utc(2026, 3, 10, 18, 30))).selected == 0
    assert (await run_tick(services, utc(2026, 3, 11, 18, 0))).sent == 1


async def test_a_late_tick_sends_and_a_second_tick_does_not_resend(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    user = await people.notes_user("Asia/Kathmandu", notes_reminder_time=time(17, 45))
    await people.session(user)
    due = utc(2026, 1, 5, 12, 0)
    assert (await run_tick(services, due + timedelta(minutes=59))).sent == 1
    assert (await run_tick(services, due + timedelta(minutes=59, seconds=30))).selected == 0
    assert len(mailbox.messages) == 1


async def test_a_time_in_the_gap_and_a_repeated_time(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    gap = await people.notes_user("America/New_York", notes_reminder_time=time(2, 30))
    fold = await people.notes_user("America/New_York", notes_reminder_time=time(1, 30))
    for user in (gap, fold):
        await people.session(user)
    assert (await run_tick(services, utc(2026, 3, 8, 7, 30))).sent == 1  # 03:30 EDT
    assert (await run_tick(services, utc(2026, 11, 1, 5, 30))).sent == 1  # first 01:30
    assert (await run_tick(services, utc(2026, 11, 1, 6, 30))).sent == 0  # second 01:30
    assert {(u, s) for u, s, _ in await statuses(services)} == {
        (gap, midnight(date(2026, 3, 8))),
        (fold, midnight(date(2026, 11, 1))),
    }


@pytest.mark.parametrize(
    ("is_active", "prefs"),
    [
        (False, {"notes_reminder_enabled": True}),
        (True, {"notes_reminder_enabled": True, "email_enabled": False}),
        (True, {"notes_reminder_enabled": False}),
        (True, None),  # no settings row: the reminder is off by default
    ],
)
async def test_inactive_users_and_disabled_settings_get_nothing(
    services: Services,
    people: LocalTimeData,
    mailbox: CaptureServer,
    is_active: bool,
    prefs: dict[str, bool] | None,
) -> None:
    user = await people.user(timezone="UTC", is_active=is_active, settings=prefs)
    await people.session(user)
    counts = await run_tick(services, utc(2026, 3, 10, 18, 0))
    assert (counts.selected, counts.sent) == (0, 0)
    assert await ledger_rows(services.engine, KIND) == []


async def test_enabling_it_later_the_same_day_is_picked_up(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    user = await people.user(timezone="UTC", settings=None)
    await people.session(user)
    assert (await run_tick(services, utc(2026, 3, 10, 18, 0))).selected == 0
    await people.add_settings(user, notes_reminder_enabled=True)
    assert (await run_tick(services, utc(2026, 3, 10, 18, 30))).sent == 1
    await people.drop_settings(user)  # back to the defaults: off
    assert (await run_tick(services, utc(2026, 3, 11, 18, 0))).selected == 0


async def test_an_unknown_zone_costs_its_user_alone(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    ok = await people.notes_user("UTC")
    lost = await people.notes_user("Not/A_Zone")
    for user in (ok, lost):
        await people.session(user)
    counts = await run_tick(services, utc(2026, 3, 10, 18, 0))
    assert (counts.sent, counts.failed) == (1, 1)
    assert sorted(s for _, _, s in await statuses(services)) == ["failed", "sent"]


async def test_both_kinds_share_the_date_but_not_the_slot(
    services: Services, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    from notifier.services import daily_digest

    user = await people.user(
        timezone="UTC",
        settings={
            "digest_enabled": True,
            "digest_time": time(18, 0),
            "notes_reminder_enabled": True,
        },
    )
    await people.session(user)
    now = utc(2026, 3, 10, 18, 0)
    digest, notes = await asyncio.gather(
        daily_digest.run_tick(services, now), run_tick(services, now)
    )
    assert (digest.sent, notes.sent) == (1, 1)
    assert sorted(m.kind for m in mailbox.messages) == ["daily_digest", "notes_reminder"]


async def test_notifier_run_notes_reminders_prints_the_summary(
    services: Services, settings: Settings, people: LocalTimeData, mailbox: CaptureServer
) -> None:
    user = await people.notes_user("Pacific/Kiritimati")
    await people.session(user)
    result = await asyncio.to_thread(
        run_notifier,
        ["run", "notes_reminders", "--at", "2026-01-05T04:00:00Z"],
        service_env(settings, TZ="Pacific/Pago_Pago"),
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("selected", "sent", "skipped", "failed")} == {
        "selected": 1,
        "sent": 1,
        "skipped": 0,
        "failed": 0,
    }
    assert "pat@example.com" not in result.stderr
