"""Contract rules of ``weekly_report`` (and the digest's task summary) against real PostgreSQL
and a real SMTP server: the user's weekday and time in their own zone, one report per local
date, local-date spans far from UTC, capped lists, every channel."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from notifier.app import Services
from notifier.db.schema import in_app_notifications, notification_preferences
from notifier.rules.local_time_slots import due_slots
from notifier.services import daily_digest, local_time
from notifier.services.weekly_report import WEEKLY, run_tick
from notifier.timemath.windows import catch_up_window
from notifier.timemath.zones import get_zone
from tests.support.ledger import ledger_rows
from tests.support.local_time_data import LocalTimeData, midnight, parts, utc
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData

KIND = "weekly_report"
SEC = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class WeekData(LocalTimeData, TaskData):
    """Users with the weekly report on, their tasks and appointments."""

    async def report_user(
        self, zone: str, day: int = 1, at: time = time(8, 0), **settings: Any
    ) -> uuid.UUID:
        values = {
            "weekly_report_enabled": True,
            "weekly_report_day": day,
            "weekly_report_time": at,
            **settings,
        }
        return await self.user(None, timezone=zone, settings=values)


@pytest.fixture
def people(services: Services) -> WeekData:
    return WeekData(services.engine)


async def slots(services: Services) -> list[tuple[object, str]]:
    return [(r["slot"], r["status"]) for r in await ledger_rows(services.engine, KIND)]


# (zone, ISO weekday, local time, local date, due instant): far east, far west, off the hour,
# a time in the spring-forward gap, a time that happens twice.
ZONES = [
    ("Pacific/Kiritimati", 1, time(8, 0), date(2026, 1, 5), utc(2026, 1, 4, 18, 0)),
    ("Pacific/Pago_Pago", 1, time(8, 0), date(2026, 1, 5), utc(2026, 1, 5, 19, 0)),
    ("Asia/Kathmandu", 5, time(8, 0), date(2026, 1, 9), utc(2026, 1, 9, 2, 15)),
    ("America/New_York", 7, time(2, 30), date(2026, 3, 8), utc(2026, 3, 8, 7, 30)),
    ("America/New_York", 7, time(1, 30), date(2026, 11, 1), utc(2026, 11, 1, 5, 30)),
]


@pytest.mark.parametrize(("zone", "weekday", "at", "day", "due"), ZONES)
async def test_sent_on_the_users_weekday_at_their_local_time(
    services: Services,
    people: WeekData,
    mailbox: CaptureServer,
    zone: str,
    weekday: int,
    at: time,
    day: date,
    due: datetime,
) -> None:
    assert day.isoweekday() == weekday
    await people.report_user(zone, weekday, at)
    assert (await run_tick(services, due - SEC)).sent == 0
    assert (await run_tick(services, due)).sent == 1
    assert (await run_tick(services, due + HOUR)).sent == 0  # a fold's second occurrence too
    assert await slots(services) == [(midnight(day), "sent")]
    subject, _, _ = parts(mailbox.messages[0])
    assert subject.startswith(f"Your week from {day:%A} {day.day} {day:%B %Y}: ")


async def test_hourly_ticks_over_a_week_send_one_report_on_the_chosen_day_only(
    services: Services, people: WeekData, mailbox: CaptureServer
) -> None:
    """Kiritimati is UTC+14: its Wednesday 08:00 is Tuesday 18:00 UTC."""
    await people.report_user("Pacific/Kiritimati", 3, time(8, 0))
    start = utc(2026, 1, 4, 0, 0)
    sent_at = [
        now for k in range(7 * 24) if (await run_tick(services, now := start + k * HOUR)).sent
    ]
    assert sent_at == [utc(2026, 1, 6, 18, 0)]
    assert await slots(services) == [(midnight(date(2026, 1, 7)), "sent")]


async def test_off_disabled_or_inactive_users_get_none(
    services: Services, people: WeekData, mailbox: CaptureServer
) -> None:
    await people.user(None, timezone="UTC")  # the column's default: off
    await people.report_user("UTC", weekly_report_enabled=False)
    await people.report_user("UTC", email_enabled=False)
    inactive = await people.report_user("UTC")
    await people.set_user(inactive, is_active=False)
    await people.report_user("UTC", day=9)  # no such weekday: never due
    counts = await run_tick(services, utc(2026, 1, 5, 8, 0))
    assert (counts.selected, counts.sent) == (0, 0) and mailbox.messages == []


async def test_one_report_per_local_date_whatever_the_time_or_zone_changes(
    services: Services, people: WeekData, mailbox: CaptureServer
) -> None:
    user = await people.report_user("Europe/London", 1, time(8, 0))
    assert (await run_tick(services, utc(2026, 1, 5, 8, 0))).sent == 1
    await people.set_settings(user, weekly_report_time=time(9, 0))
    assert (await run_tick(services, utc(2026, 1, 5, 9, 0))).sent == 0
    await people.set_user(user, timezone="America/New_York")  # Monday 09:00 there is 14:00 UTC
    assert (await run_tick(services, utc(2026, 1, 5, 14, 0))).sent == 0
    assert len(mailbox.messages) == 1
    # Next Monday is another local date: a new report.
    assert (await run_tick(services, utc(2026, 1, 12, 14, 0))).sent == 1


@pytest.mark.parametrize(("late_minutes", "sent"), [(59, 1), (61, 0)])
async def test_a_late_tick_catches_up_within_the_window_only(
    services: Services, people: WeekData, mailbox: CaptureServer, late_minutes: int, sent: int
) -> None:
    await people.report_user("Asia/Kathmandu", 1, time(8, 0))
    due = utc(2026, 1, 5, 2, 15)
    assert (await run_tick(services, due + timedelta(minutes=late_minutes))).sent == sent


async def test_the_lists_follow_the_users_local_dates_far_east_of_utc(
    services: Services, people: WeekData, mailbox: CaptureServer
) -> None:
    """Kiritimati (UTC+14): Monday 2026-01-05 runs from Sunday 10:00 UTC to Monday 10:00 UTC;
    the report is due Monday 08:00 local, Sunday 18:00 UTC."""
    user = await people.report_user("Pacific/Kiritimati", 1, time(8, 0))
    other = await people.user(None, email="someone@example.com", timezone="Pacific/Kiritimati")
    monday = utc(2026, 1, 4, 10, 0)  # local Monday 00:00
    due = utc(2026, 1, 4, 18, 0)
    week_end = monday + 7 * DAY  # local Monday 12 January 00:00
    t = people.task
    done = {"completed": True, "status": "completed"}
    await t(user, None, title="LISTED done first", completed_at=monday - 7 * DAY, **done)
    await t(user, None, title="LISTED done last", completed_at=monday - SEC, **done)
    await t(user, None, title="NOT done too early", completed_at=monday - 7 * DAY - SEC, **done)
    await t(user, None, title="NOT done today", completed_at=monday, **done)
    await t(user, due + SEC, title="LISTED due right after")
    await t(user, week_end - SEC, title="LISTED due last")
    await t(user, week_end, title="NOT due next week")
    await t(user, due - SEC, title="LISTED overdue this morning")
    await t(user, utc(2025, 12, 1), title="LISTED overdue long ago")
    await t(user, due + DAY, title="NOT deleted", deleted_at=due - DAY)
    await t(user, due + DAY, title="NOT done", completed_at=monday + HOUR, **done)
    await t(other, due + DAY, title="NOT someone else's")
    await people.appointment_in(None, user, monday, location="LISTED first appointment")
    await people.appointment_in(None, user, week_end - SEC, location="LISTED last appointment")
    await people.appointment_in(None, user, week_end, location="NOT next week")
    await people.appointment_in(None, user, monday - SEC, location="NOT last week")
    await people.appointment_in(None, user, due + DAY, location="NOT cancelled", status="cancelled")
    assert (await run_tick(services, due)).sent == 1
    subject, text, html = parts(mailbox.messages[0])
    assert subject == "Your week from Monday 5 January 2026: 2 appointments, 2 tasks due, 2 overdue"
    assert text.count("LISTED") == 8 and "NOT" not in text
    assert html.count("LISTED") == 8 and "NOT" not in html
    sections = text.split("OVERDUE: 2")
    assert "LISTED due right after" in sections[0] and "LISTED overdue long ago" in sections[1]
    assert "COMPLETED IN THE LAST 7 DAYS: 2" in text
    assert text.index("LISTED overdue long ago") < text.index("LISTED overdue this morning")


async def test_an_empty_week_is_still_sent_and_says_so(
    services: Services, people: WeekData, mailbox: CaptureServer
) -> None:
    await people.report_user("Pacific/Pago_Pago", 1, time(8, 0))
    assert (await run_tick(services, utc(2026, 1, 5, 19, 0))).sent == 1
    subject, text, html = parts(mailbox.messages[0])
    assert subject == "Your week from Monday 5 January 2026: no appointments, no tasks due"
    for body in (text, html):
        assert "No appointments scheduled." in body and "Nothing overdue." in body
        assert "No open tasks due this week." in body and "No tasks completed." in body


async def test_two_hundred_tasks_are_capped_and_counted(
    services: Services, people: WeekData, mailbox: CaptureServer
) -> None:
    user = await people.report_user("UTC", 1, time(8, 0))
    due = utc(2026, 1, 5, 8, 0)
    for k in range(200):
        await people.task(user, due + k * timedelta(minutes=30), title=f"Task number {k:03d}")
    assert (await run_tick(services, due)).sent == 1
    subject, text, html = parts(mailbox.messages[0])
    assert "200 tasks due" in subject
    assert "TASKS DUE THIS WEEK: 200" in text and "... and 175 more" in text
    assert text.count("Task number") == 25 and html.count("Task number") == 25
    assert "Task number 000" in text and "Task number 024" in text and "Task number 025" not in text
    assert "and 175 more" in html and len(mailbox.messages[0].data) < 60_000


async def test_the_report_goes_in_app_when_the_user_prefers(
    services: Services, people: WeekData, mailbox: CaptureServer
) -> None:
    user = await people.report_user("Asia/Kathmandu", 1, time(8, 0))
    await people.task(user, utc(2026, 1, 6), title="Renew the lease")
    rows = [
        {
            "user_id": user,
            "kind": KIND,
            "channel": channel,
            "enabled": on,
            "updated_at": utc(2026, 1, 1),
        }
        for channel, on in (("email", False), ("in_app", True))
    ]
    async with services.engine.begin() as conn:
        await conn.execute(insert(notification_preferences), rows)
    assert (await run_tick(services, utc(2026, 1, 5, 2, 15))).sent == 1
    assert mailbox.messages == []
    async with services.engine.connect() as conn:
        [row] = (await conn.execute(select(in_app_notifications))).mappings().all()
    assert row["kind"] == KIND and row["user_id"] == user
    assert row["title"] == "Your week: no appointments, 1 task due"


def _digest_days(value: Any) -> frozenset[int]:
    skip, days = value
    return daily_digest.DIGEST.days_of(skip, list(days) if days else None)


async def test_the_selection_and_the_fresh_row_agree_on_every_weekday_rule(
    services: Services, people: WeekData
) -> None:
    """The weekday rule is written in SQL (selection) and in Python (the fresh row decides):
    on days without a DST change both must pick exactly the same users."""
    users = {}
    for weekday in (*range(1, 8), 0, 8):
        users[("weekly", weekday)] = await people.report_user("UTC", weekday, time(8, 0))
    for skip in (False, True):
        users[("digest", (skip, None))] = await people.digest_user(
            "UTC", digest_time=time(8, 0), digest_skip_weekends=skip
        )
    users[("digest", (True, (6, 7)))] = await people.digest_user(
        "UTC", digest_time=time(8, 0), digest_skip_weekends=True, digest_days=[6, 7]
    )
    for day in range(5, 12):  # Monday 5 to Sunday 11 January 2026
        now = utc(2026, 1, day, 8, 0)
        window = catch_up_window(now, timedelta(minutes=60))
        async with services.engine.connect() as conn:
            weekly = set(await local_time.candidate_ids(conn, WEEKLY, window))
            digest = set(await local_time.candidate_ids(conn, daily_digest.DIGEST, window))
        utc_zone = get_zone("UTC")
        expected_weekly = {
            uid
            for (name, value), uid in users.items()
            if name == "weekly" and due_slots(utc_zone, time(8, 0), WEEKLY.days_of(value), window)
        }
        expected_digest = {
            uid
            for (name, value), uid in users.items()
            if name == "digest" and due_slots(utc_zone, time(8, 0), _digest_days(value), window)
        }
        assert weekly == expected_weekly and len(weekly) == 1
        # ``digest_days`` lives in JSON the copy does not hold: such a user is selected every
        # day at their time (a superset), and the fresh row decides.
        days_user = users[("digest", (True, (6, 7)))]
        assert digest - {days_user} == expected_digest - {days_user} and len(expected_digest) == 2
        assert days_user in digest


async def test_the_digest_lists_the_tasks_of_the_local_date_and_counts_the_overdue(
    services: Services, people: WeekData, mailbox: CaptureServer
) -> None:
    """Pago Pago (UTC-11): Monday 2026-01-05 runs from 11:00 UTC to Tuesday 11:00 UTC; the
    digest is due at 07:00 local, 18:00 UTC."""
    user = await people.digest_user("Pacific/Pago_Pago", digest_time=time(7, 0))
    start, due = utc(2026, 1, 5, 11, 0), utc(2026, 1, 5, 18, 0)
    t = people.task
    await t(user, start, title="LISTED first thing", priority="high")
    await t(user, start + DAY - SEC, title="LISTED last thing")
    await t(user, start + DAY, title="NOT tomorrow")
    await t(user, start - SEC, title="NOT yesterday (overdue)")
    await t(user, utc(2025, 11, 1), title="NOT long ago (overdue)")
    await t(user, start + HOUR, title="NOT completed", completed=True, completed_at=start)
    await t(user, start + HOUR, title="NOT deleted", deleted_at=start)
    await t(user, utc(2025, 11, 1), title="NOT deleted overdue", deleted_at=start)
    assert (await daily_digest.run_tick(services, due)).sent == 1
    _, text, html = parts(mailbox.messages[0])
    assert "Tasks due today: 2" in text and "LISTED first thing" in text and "[high]" in text
    assert "past due" in text  # the one at 00:00 local was due before the digest
    # Overdue: open tasks due before the digest's instant, today's 00:00 one included.
    assert "You have 3 overdue tasks" in text and "3 overdue tasks" in html
    assert text.count("LISTED") == 2 and "NOT" not in text and "NOT" not in html


async def test_a_digest_caps_its_task_list_and_counts_the_rest(
    services: Services, people: WeekData, mailbox: CaptureServer
) -> None:
    user = await people.digest_user("UTC", digest_time=time(7, 0))
    for k in range(120):
        await people.task(user, utc(2026, 1, 5, 8, 0) + k * timedelta(minutes=5), title=f"T{k:03d}")
    assert (await daily_digest.run_tick(services, utc(2026, 1, 5, 7, 0))).sent == 1
    _, text, html = parts(mailbox.messages[0])
    assert "Tasks due today: 120" in text and "... and 70 more" in text
    assert text.count("- T") == 50 and "No overdue tasks." in text
    assert "and 70 more" in html and len(re.findall(r">T\d{3}<", html)) == 50


async def test_digest_days_pick_the_local_weekdays_and_override_skip_weekends(
    services: Services, people: WeekData, mailbox: CaptureServer
) -> None:
    """Kiritimati (UTC+14): local Monday 5 January 07:00 is Sunday 17:00 UTC."""
    mon_wed = await people.digest_user("Pacific/Kiritimati", digest_days=[1, 3])
    saturday = await people.digest_user(
        "Pacific/Kiritimati", digest_days=[6], digest_skip_weekends=True
    )
    never = await people.digest_user("Pacific/Kiritimati", digest_days=[])
    start = utc(2026, 1, 4, 0, 0)
    for k in range(7 * 24):
        await daily_digest.run_tick(services, start + k * HOUR)
    sent = {(r["user_id"], r["slot"]) for r in await ledger_rows(services.engine, "daily_digest")}
    assert sent == {
        (mon_wed, midnight(date(2026, 1, 5))),
        (mon_wed, midnight(date(2026, 1, 7))),
        (saturday, midnight(date(2026, 1, 10))),
    }
    assert never not in {user for user, _ in sent} and len(mailbox.messages) == 3


@pytest.mark.parametrize(
    "bad", ['"monday"', "[0, 8]", '{"days": [1]}', "[1.5]", "[true]", '["1"]', "7"]
)
async def test_bad_digest_days_fail_that_users_digest_alone_with_the_reason(
    services: Services, people: WeekData, mailbox: CaptureServer, bad: str
) -> None:
    control = await people.digest_user("UTC")
    broken = await people.digest_user("UTC")
    async with services.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE notification_settings SET digest_days = CAST(:v AS json) WHERE user_id = :u"
            ),
            {"v": bad, "u": broken},
        )
    counts = await daily_digest.run_tick(services, utc(2026, 1, 5, 7, 0))
    assert (counts.sent, counts.failed) == (1, 1)
    rows = {
        r["user_id"]: (r["status"], r["last_error"]) for r in await ledger_rows(services.engine)
    }
    assert rows == {
        control: ("sent", None),
        broken: ("failed", "digest_days is not a JSON array of ISO weekdays 1-7"),
    }
