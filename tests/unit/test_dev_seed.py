"""The demo of ``notifier dev``: timed into the first two minutes from any start instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.dev.seed import (
    BOLD_CLIENT,
    DEMO_WORKSPACE_ID,
    SCRIPT_CLIENT,
    Demo,
    build_demo,
)
from notifier.jobs.registry import tick_functions
from notifier.rules.kinds import CHANNELS, EMAIL, IN_APP, JOB_KINDS, JOB_NAMES, WEBHOOK
from notifier.timemath.zones import get_zone

starts = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@given(starts)
def test_every_expected_mail_is_due_within_the_first_minute(now: datetime) -> None:
    demo = build_demo(now)
    assert demo.expected
    for mail in demo.expected:
        # Due by the next whole minute: the first minute tick (at most 60 s away) sends it.
        assert mail.due <= demo.soon <= now + timedelta(minutes=1)
        assert mail.due > now - timedelta(minutes=60)  # inside the default catch-up window


@given(starts)
def test_local_times_are_the_next_minute_in_each_users_zone(now: datetime) -> None:
    demo = build_demo(now)
    settings = {row["user_id"]: row for row in demo.rows["notification_settings"]}
    zones = {row["id"]: row["timezone"] for row in demo.rows["users"]}
    for user_id, row in settings.items():
        for column in ("digest_time", "notes_reminder_time"):
            if column in row:
                local = demo.soon.astimezone(get_zone(zones[user_id]))
                assert (row[column].hour, row[column].minute) == (local.hour, local.minute)


def test_every_registered_job_is_exercised_by_the_demo() -> None:
    demo = build_demo(datetime(2026, 3, 8, 6, 59, 30, tzinfo=UTC))
    assert set(JOB_KINDS) == set(JOB_NAMES)
    expected_jobs = {mail.job for mail in demo.expected}
    for job in tick_functions():
        assert job in JOB_KINDS, f"{job} is registered but notifier.dev.seed.JOB_KINDS lacks it"
        if JOB_KINDS[job] is not None:
            assert job in expected_jobs, f"the demo sends nothing for {job}: seed some data"


def test_users_span_far_zones_and_data_shows_escaping() -> None:
    demo = build_demo(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    offsets = {
        get_zone(row["timezone"] or "America/New_York").utcoffset(demo.now)
        for row in demo.rows["users"]
    }
    assert timedelta(hours=5, minutes=45) in offsets
    assert any(abs(offset) >= timedelta(hours=12) for offset in offsets if offset is not None)
    names = {row["full_name"] for row in demo.rows["clients"]}
    assert {BOLD_CLIENT, SCRIPT_CLIENT} <= names


def test_every_row_belongs_to_the_demo_workspace() -> None:
    demo = build_demo(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    user_ids = {row["id"] for row in demo.rows["users"]}
    for table, rows in demo.rows.items():
        for row in rows:
            if table == "workspaces":
                assert row["id"] == DEMO_WORKSPACE_ID
            elif "workspace_id" in row:
                assert row["workspace_id"] == DEMO_WORKSPACE_ID
            else:
                assert row["user_id"] in user_ids


def test_the_same_instant_builds_the_same_ids() -> None:
    at = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    first, second = build_demo(at), build_demo(at + timedelta(days=3))
    assert [r["id"] for r in first.rows["users"]] == [r["id"] for r in second.rows["users"]]


HOOK = "http://127.0.0.1:8026/hooks/rangi"


def _preferences(demo: Demo, email: str) -> dict[tuple[str, str], bool]:
    user_id = demo.user_ids()[email]
    rows = demo.rows["notification_preferences"]
    return {(r["kind"], r["channel"]): r["enabled"] for r in rows if r["user_id"] == user_id}


@pytest.mark.parametrize("channel", [IN_APP, WEBHOOK])
def test_one_user_per_other_channel_has_it_on_and_email_off(channel: str) -> None:
    demo = build_demo(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), HOOK)
    expected = demo.expected_on(channel)
    people = {item.to for item in expected}
    assert len(people) == 1 and len(expected) >= 2  # one person, several kinds
    preferences = _preferences(demo, people.pop())
    for item in expected:
        assert preferences[(item.kind, channel)] is True
        assert preferences[(item.kind, EMAIL)] is False
    assert {e.to for e in demo.expected_on(EMAIL)}.isdisjoint({e.to for e in expected})


def test_the_webhook_user_posts_to_the_given_url_and_only_then_is_expected() -> None:
    at = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with_url, without = build_demo(at, HOOK), build_demo(at)
    urls = [r.get("webhook_url") for r in with_url.rows["notification_settings"]]
    assert urls.count(HOOK) == 1 and not any(urls.count(u) > 1 for u in urls if u)
    assert without.expected_on(WEBHOOK) == []
    assert [r.get("webhook_url") for r in without.rows["notification_settings"]].count(HOOK) == 0
    assert with_url.expected_on(EMAIL) == without.expected_on(EMAIL)
    assert {e.channel for e in with_url.expected} == set(CHANNELS)


def test_preference_rows_name_known_kinds_and_channels() -> None:
    demo = build_demo(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), HOOK)
    kinds = {kind for kind in JOB_KINDS.values() if kind is not None}
    keys = set()
    for row in demo.rows["notification_preferences"]:
        assert row["kind"] in kinds and row["channel"] in CHANNELS
        keys.add((row["user_id"], row["kind"], row["channel"]))
    assert len(keys) == len(demo.rows["notification_preferences"])  # the primary key holds
