"""Arbitrary values in every column the worker reads: every tick succeeds (issue 21).

Hypothesis writes what a host with untidy data could store (any text with control characters
and 10,000-character strings, any JSON, any instant and time PostgreSQL accepts, unknown
zones and statuses) into one user's rows beside a control user, then runs every job's tick.
Whatever the values: no tick fails, the control gets each kind exactly once, and no email
goes to an address that was not seeded.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from notifier.app import Services
from tests.support.every_job import (
    ALL_JOBS,
    EMAIL_JOBS,
    SeedData,
    due_everywhere,
    kinds_to,
    run_job,
    run_statuses,
)
from tests.support.smtp import CaptureServer

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CONTROL = "control@example.com"

# PostgreSQL text holds any character but NUL.
texts = st.one_of(
    st.none(),
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40),
    st.sampled_from(["\n", "\r\n", "<script>", "a\u202eb", "Subject: x\r\nBcc: y"]),
    st.integers(1, 10_000).map(lambda n: "x\x07\n" * (n // 3 + 1)),
)
addresses = st.one_of(
    texts,
    st.sampled_from(["fuzz@example.com", "fuzz@example.com\n", "fuzz@example.com>", " fuzz@x"]),
)
near = st.integers(-3 * 24 * 60, 3 * 24 * 60).map(lambda m: NOW + timedelta(minutes=m))
instants = st.one_of(
    st.none(),
    near.map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "-infinity",
            "infinity",
            "4713-01-01 00:00:00+00 BC",
            "294276-12-31 23:59:59+00",
            "0001-01-01 00:00:00+00",
            "9999-12-31 23:59:59.999999+00",
            "10000-01-01 00:00:00+00",
        ]
    ),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
)
wall_times = st.one_of(
    st.sampled_from(["12:00", "11:30", "07:00", "24:00:00", "00:00", "23:59:59.999999"]),
    st.times().map(lambda t: t.isoformat()),
)
zones = st.one_of(
    st.none(),
    st.sampled_from(["UTC", "America/New_York", "Asia/Tokyo", "Pacific/Apia", "Etc/GMT+12"]),
    st.sampled_from(["Not/AZone", "", "../../etc/passwd", "utc", "EST5EDT"]),
    texts,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


class RawJson(str):
    """JSON text PostgreSQL stores and Python's parser refuses (digits, depth)."""


unparsable = st.sampled_from(
    ["[" * 3000 + "]" * 3000, "9" * 5000, '{"a":' * 2000 + "1" + "}" * 2000]
)
json_values = json_values | unparsable.map(RawJson)
minutes = st.one_of(json_values, st.lists(st.sampled_from([15, 30, 60, 120, 1440, 0, -60])))
statuses = st.one_of(st.sampled_from(["scheduled", "cancelled", "completed", "open"]), texts)
task_statuses = st.one_of(st.sampled_from(["open", "overdue", "completed"]), texts)
recurrence_types = st.one_of(st.sampled_from(["daily", "weekly", "monthly", "custom"]), texts)
rules = st.one_of(
    texts, st.sampled_from(["FREQ=DAILY", "FREQ=MONTHLY;BYMONTHDAY=31", "FREQ=YEARLY;COUNT=0"])
)
channels = st.one_of(st.sampled_from(["email", "in_app", "webhook"]), texts)

rows = st.fixed_dictionaries(
    {
        "workspace_zone": st.one_of(st.sampled_from(["UTC", "Asia/Kolkata"]), texts),
        "email": addresses,
        "full_name": texts,
        "user_zone": zones,
        "is_active": st.booleans(),
        "settings": st.booleans(),
        "email_enabled": st.booleans(),
        "digest_enabled": st.booleans(),
        "digest_time": wall_times,
        "digest_skip_weekends": st.booleans(),
        "notes_reminder_enabled": st.booleans(),
        "notes_reminder_time": wall_times,
        "weekly_report_enabled": st.booleans(),
        "weekly_report_day": st.one_of(st.integers(1, 7), st.integers(-(2**31), 2**31 - 1)),
        "weekly_report_time": wall_times,
        "appointment_reminders_enabled": st.booleans(),
        "appointment_reminder_minutes": minutes,
        "task_reminders_enabled": st.booleans(),
        "client_name": texts,
        "starts_at": st.one_of(near.map(lambda d: d.isoformat()), instants),
        "ends_at": instants,
        "location": texts,
        "service_name": texts,
        "appointment_status": statuses,
        "is_draft": st.booleans(),
        "updated_at": instants,
        "title": texts,
        "description": texts,
        "priority": texts,
        "tags": json_values,
        "due_date": instants,
        "completed": st.booleans(),
        "completed_at": instants,
        "task_status": task_statuses,
        "is_recurring": st.booleans(),
        "recurrence_type": st.one_of(st.none(), recurrence_types),
        "recurrence_interval": st.integers(-(2**31), 2**31 - 1),
        "recurrence_rule": rules,
        "recurrence_end": instants,
        "deleted_at": st.one_of(st.none(), st.none(), instants),
        "remind_at": st.one_of(near.map(lambda d: d.isoformat()), instants),
        "channel": channels,
        "sent": st.booleans(),
    }
)


def _json(value: Any) -> str:
    return value if isinstance(value, RawJson) else json.dumps(value)


def _cast_from_text(sql: str) -> str:
    """Typed values travel as text and PostgreSQL parses them (``-infinity``, BC, ``24:00``):
    asyncpg would only take Python values, which cannot say those."""
    return re.sub(
        r"CAST\(:(\w+) AS (timestamptz|time|json)\)", r"CAST(CAST(:\1 AS text) AS \2)", sql
    )


async def _insert_fuzzed(services: Services, r: dict[str, Any]) -> set[str]:
    """The fuzzed user's rows in every table of contract section 1; returns its address."""
    ids = {name: uuid.uuid4() for name in ("ws", "user", "client", "appt", "task")}
    statements = [
        (
            "INSERT INTO workspaces (id, name, timezone) VALUES (:ws, :full_name, "
            "coalesce(CAST(:workspace_zone AS text), 'UTC'))"
        ),
        (
            "INSERT INTO users (id, workspace_id, email, full_name, timezone, is_active) "
            "VALUES (:user, :ws, :email, :full_name, :user_zone, :is_active)"
        ),
        ("INSERT INTO clients (id, workspace_id, full_name) VALUES (:client, :ws, :client_name)"),
        (
            "INSERT INTO appointments (id, workspace_id, user_id, client_id, starts_at, ends_at, "
            "location, service_name, status) VALUES (:appt, :ws, :user, :client, "
            "coalesce(CAST(:starts_at AS timestamptz), now()), CAST(:ends_at AS timestamptz), "
            ":location, :service_name, coalesce(CAST(:appointment_status AS text), ''))"
        ),
        (
            "INSERT INTO sessions (id, workspace_id, user_id, appointment_id, is_draft, "
            "updated_at) VALUES (gen_random_uuid(), :ws, :user, :appt, :is_draft, "
            "CAST(:updated_at AS timestamptz))"
        ),
        (
            "INSERT INTO tasks (id, workspace_id, user_id, title, description, priority, tags, "
            "due_date, completed, completed_at, status, is_recurring, recurrence_type, "
            "recurrence_interval, recurrence_rule, recurrence_end, deleted_at) VALUES (:task, "
            ":ws, :user, :title, :description, :priority, CAST(:tags AS json), "
            "CAST(:due_date AS timestamptz), :completed, CAST(:completed_at AS timestamptz), "
            "coalesce(CAST(:task_status AS text), ''), :is_recurring, :recurrence_type, "
            ":recurrence_interval, :recurrence_rule, CAST(:recurrence_end AS timestamptz), "
            "CAST(:deleted_at AS timestamptz))"
        ),
        (
            "INSERT INTO task_reminders (id, task_id, user_id, remind_at, channel, sent) VALUES "
            "(gen_random_uuid(), :task, :user, coalesce(CAST(:remind_at AS timestamptz), now()), "
            "coalesce(CAST(:channel AS text), ''), :sent)"
        ),
    ]
    if r["settings"]:
        statements.append(
            "INSERT INTO notification_settings (user_id, email_enabled, digest_enabled, "
            "digest_time, digest_skip_weekends, notes_reminder_enabled, notes_reminder_time, "
            "appointment_reminders_enabled, appointment_reminder_minutes, "
            "task_reminders_enabled, weekly_report_enabled, weekly_report_day, "
            "weekly_report_time) VALUES (:user, :email_enabled, :digest_enabled, "
            "CAST(:digest_time AS time), :digest_skip_weekends, :notes_reminder_enabled, "
            "CAST(:notes_reminder_time AS time), :appointment_reminders_enabled, "
            "CAST(:appointment_reminder_minutes AS json), :task_reminders_enabled, "
            ":weekly_report_enabled, :weekly_report_day, CAST(:weekly_report_time AS time))"
        )
    params = {
        **r,
        **ids,
        "tags": _json(r["tags"]),
        "appointment_reminder_minutes": _json(r["appointment_reminder_minutes"]),
    }
    async with services.engine.begin() as conn:
        for sql in statements:
            names = set(re.findall(r":(\w+)", sql))
            await conn.execute(text(_cast_from_text(sql)), {k: params[k] for k in names})
    return {r["email"]} if isinstance(r["email"], str) else set()


async def _clear(services: Services) -> None:
    """Every row of the last example, in foreign-key order (row triggers keep the worker's
    schedule copy in step, which TRUNCATE would not)."""
    async with services.engine.begin() as conn:
        for table in (
            "task_reminders", "reminders_sent", "job_runs", "tasks", "sessions",
            "appointments", "clients", "notification_settings", "users", "workspaces",
        ):  # fmt: skip
            await conn.execute(text(f"DELETE FROM {table}"))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fuzzed=rows)
async def test_no_value_a_host_can_store_fails_a_tick_or_costs_the_control_its_email(
    services: Services, mailbox: CaptureServer, fuzzed: dict[str, Any]
) -> None:
    await _clear(services)
    mailbox.handler.clear()
    seeded = {CONTROL} | await _insert_fuzzed(services, fuzzed)
    await due_everywhere(SeedData(services.engine), NOW, CONTROL)
    for job in ALL_JOBS:
        await run_job(services, job, NOW)
    assert await run_statuses(services) == {"succeeded": len(ALL_JOBS)}
    assert kinds_to(mailbox.messages, CONTROL) == dict.fromkeys(EMAIL_JOBS.values(), 1)
    for message in mailbox.messages:
        assert len(message.rcpt_tos) == 1 and message.rcpt_tos[0] in seeded
