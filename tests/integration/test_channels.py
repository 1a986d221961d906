"""Contract section 9 end to end: in-app rows and signed webhooks beside email.

Real PostgreSQL (with a real LISTEN connection), the SMTP capture server and a real HTTP
receiver on 127.0.0.1; the webhook client may reach loopback only where the test allows
private addresses, and every other test checks that the receiver got nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader
from pydantic import SecretStr
from sqlalchemy import insert, select
from standardwebhooks.webhooks import Webhook

from notifier.app import Services, close_services, open_services
from notifier.channels.registry import build_channels
from notifier.config import Settings
from notifier.db.schema import (
    in_app_notifications,
    notification_preferences,
    reminders_sent,
    tasks,
)
from notifier.services.task_due_reminders import run_tick
from tests.conftest import real_clock
from tests.support.ledger import ledger_rows
from tests.support.receiver import StartReceiver
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData
from tests.support.worker import wait_until

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
OpenChannels = Callable[..., Awaitable[Services]]


@pytest.fixture
async def open_channels(settings: Settings) -> AsyncIterator[OpenChannels]:
    """Services with webhooks set up (loopback allowed unless told otherwise)."""
    opened: list[Services] = []

    async def open_(**update: Any) -> Services:
        values = {"webhook_secret": SecretStr(SECRET), "webhook_allow_private": True, **update}
        services = open_services(settings.model_copy(update=values), real_clock)
        opened.append(services)
        return services

    yield open_
    for services in opened:
        await close_services(services)


async def _prefer(services: Services, user: uuid.UUID, kind: str, **channels: bool) -> None:
    rows = [
        {"user_id": user, "kind": kind, "channel": c, "enabled": on, "updated_at": NOW}
        for c, on in channels.items()
    ]
    async with services.engine.begin() as conn:
        await conn.execute(insert(notification_preferences), rows)


async def _due_task_user(
    services: Services, email: str = "pat@example.com", **settings: Any
) -> uuid.UUID:
    data = TaskData(services.engine)
    user = await data.user(email=email, settings=settings or None)
    await data.task(user, NOW + timedelta(hours=2), title="Send the invoice")
    return user


async def _in_app_rows(services: Services) -> list[Any]:
    async with services.engine.connect() as conn:
        return list((await conn.execute(select(in_app_notifications))).mappings().all())


def _by_channel(rows: list[Any]) -> dict[str, tuple[str, str | None]]:
    return {r["channel"]: (r["status"], r["last_error"]) for r in rows}


async def test_an_in_app_row_is_written_once_with_its_sent_mark_and_notified(
    open_channels: OpenChannels, database_url: str, mailbox: CaptureServer
) -> None:
    services = await open_channels()
    user = await _due_task_user(services)
    await _prefer(services, user, "task_due", email=False, in_app=True)
    listener = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("notifier_in_app", lambda *args: heard.put_nowait(args[3]))
    try:
        counts = await run_tick(services, NOW)
        assert await asyncio.wait_for(heard.get(), 10) == str(user)
    finally:
        await listener.close()
    assert counts.sent == 1 and mailbox.messages == []
    [row] = await _in_app_rows(services)
    assert row["user_id"] == user and row["kind"] == "task_due" and row["read_at"] is None
    assert row["title"].startswith("Due in 2 hours: Send the invoice")
    assert row["url"] and row["url"].startswith("https://app.practice.test/tasks/")
    [ledger] = await ledger_rows(services.engine)
    assert (ledger["channel"], ledger["status"], ledger["message_id"]) == (
        "in_app",
        "sent",
        str(row["id"]),
    )


async def test_two_concurrent_ticks_write_one_in_app_row(
    open_channels: OpenChannels, mailbox: CaptureServer
) -> None:
    first, second = await open_channels(), await open_channels()
    user = await _due_task_user(first)
    await _prefer(first, user, "task_due", email=False, in_app=True)
    counts = await asyncio.gather(run_tick(first, NOW), run_tick(second, NOW))
    assert sum(c.sent for c in counts) == 1
    assert len(await _in_app_rows(first)) == 1


async def test_an_in_app_claim_left_by_a_dead_worker_is_taken_over_and_written_once(
    open_channels: OpenChannels, mailbox: CaptureServer
) -> None:
    """In-app slots skip the pending claim; one an older worker claimed and never finished
    (lease run out) still goes, once, through the slot-by-slot path; a finished one never."""
    services = await open_channels()
    user = await _due_task_user(services)
    other = await _due_task_user(services, email="lee@example.com")
    for who in (user, other):
        await _prefer(services, who, "task_due", email=False, in_app=True)
    async with services.engine.connect() as conn:
        task_of = {
            row.user_id: (row.id, row.due_date)
            for row in await conn.execute(select(tasks.c.id, tasks.c.user_id, tasks.c.due_date))
        }
    rows = [
        {
            "id": uuid.uuid4(),
            "kind": "task_due",
            "entity_id": task_of[who][0],
            "user_id": who,
            "slot": task_of[who][1],
            "channel": "in_app",
            "status": status,
            "attempts": 1,
            "created_at": NOW - timedelta(hours=1),
            "lease_until": NOW - timedelta(minutes=1),
        }
        for who, status in ((user, "pending"), (other, "sent"))
    ]
    async with services.engine.begin() as conn:
        await conn.execute(insert(reminders_sent), rows)
    counts = await run_tick(services, NOW)
    assert counts.sent == 1  # the finished slot is not even selected
    [row] = await _in_app_rows(services)
    assert row["user_id"] == user
    ledger = {
        r["user_id"]: (r["status"], r["message_id"]) for r in await ledger_rows(services.engine)
    }
    assert ledger == {user: ("sent", str(row["id"])), other: ("sent", None)}
    assert (await run_tick(services, NOW)).sent == 0 and len(await _in_app_rows(services)) == 1


async def test_a_webhook_is_posted_once_signed_as_standard_webhooks_says(
    open_channels: OpenChannels, start_receiver: StartReceiver, mailbox: CaptureServer
) -> None:
    services = await open_channels()
    receiver = await start_receiver()
    user = await _due_task_user(services, webhook_url=receiver.url)
    await _prefer(services, user, "task_due", webhook=True)
    counts = await run_tick(services, NOW)
    again = await run_tick(services, NOW + timedelta(minutes=5))
    assert (counts.sent, again.sent) == (2, 0)  # email and webhook, each once
    [request] = receiver.requests
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["kind"] == "task_due" and payload["user_id"] == str(user)
    assert payload["text"] == payload["title"] and "Send the invoice" in payload["text"]
    assert payload["slot"] == "2026-03-10T14:00:00Z"
    assert payload["url"].startswith("https://app.practice.test/tasks/")
    assert set(payload) >= {"entity_id", "body"}
    assert request.headers["Content-Type"] == "application/json"
    rows = {r["channel"]: r for r in await ledger_rows(services.engine)}
    assert rows["webhook"]["message_id"] == request.headers["webhook-id"]
    assert rows["email"]["status"] == "sent" and len(mailbox.messages) == 1


@pytest.mark.parametrize(
    ("status", "outcome"), [(500, "pending"), (429, "pending"), (410, "failed"), (400, "failed")]
)
async def test_a_receivers_answer_decides_retry_or_failure(
    open_channels: OpenChannels,
    start_receiver: StartReceiver,
    mailbox: CaptureServer,
    status: int,
    outcome: str,
) -> None:
    services = await open_channels(smtp_max_attempts=2)
    receiver = await start_receiver()
    receiver.status = status
    user = await _due_task_user(services, webhook_url=receiver.url)
    await _prefer(services, user, "task_due", email=False, webhook=True)
    await run_tick(services, NOW)
    [row] = await ledger_rows(services.engine)
    assert row["status"] == outcome and row["last_error"] == f"webhook HTTP {status}"
    assert len(receiver.requests) == (2 if outcome == "pending" else 1)


@pytest.mark.parametrize(
    "target",
    [
        "https://127.0.0.1:{port}/h",
        "https://[::1]:{port}/h",
        "https://localhost:{port}/h",
        "http://127.0.0.1:{port}/h",
    ],
)
async def test_a_webhook_to_a_loopback_address_is_failed_and_never_requested(
    open_channels: OpenChannels, start_receiver: StartReceiver, mailbox: CaptureServer, target: str
) -> None:
    """The rule a deployment runs with; the email of the same slot still goes."""
    services = await open_channels(webhook_allow_private=False)
    receiver = await start_receiver()
    user = await _due_task_user(services, webhook_url=target.format(port=receiver.port))
    await _prefer(services, user, "task_due", webhook=True)
    counts = await run_tick(services, NOW)
    assert (counts.sent, counts.failed) == (1, 1) and receiver.requests == []
    rows = _by_channel(await ledger_rows(services.engine))
    assert rows["email"] == ("sent", None)
    status, reason = rows["webhook"]
    assert status == "failed" and reason and str(receiver.port) not in reason


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("not a url", "failed"),
        ("https://example.com/" + "x" * 2048, "failed"),
        ("https://exämple.com/hook", "failed"),
        (None, "skipped"),
    ],
)
async def test_a_bad_or_missing_webhook_url_costs_that_channel_alone(
    open_channels: OpenChannels, mailbox: CaptureServer, url: str | None, status: str
) -> None:
    services = await open_channels(webhook_allow_private=False)
    user = await _due_task_user(services, webhook_url=url)
    await _prefer(services, user, "task_due", webhook=True)
    await run_tick(services, NOW)
    rows = _by_channel(await ledger_rows(services.engine))
    assert rows["email"] == ("sent", None) and rows["webhook"][0] == status
    assert len(mailbox.messages) == 1


async def test_default_channels_apply_without_a_preference_row_and_a_row_wins(
    open_channels: OpenChannels, mailbox: CaptureServer
) -> None:
    services = await open_channels(default_channels="email,in_app")
    both = await _due_task_user(services, "both@example.com")
    only_app = await _due_task_user(services, "app@example.com")
    await _prefer(services, only_app, "task_due", email=False)
    await run_tick(services, NOW)
    sent = {(r["user_id"], r["channel"]) for r in await ledger_rows(services.engine)}
    assert sent == {(both, "email"), (both, "in_app"), (only_app, "in_app")}
    assert [m.rcpt_tos for m in mailbox.messages] == [["both@example.com"]]


async def test_the_master_switch_and_the_kinds_switch_close_every_channel(
    open_channels: OpenChannels, start_receiver: StartReceiver, mailbox: CaptureServer
) -> None:
    services = await open_channels(default_channels="email,in_app,webhook")
    receiver = await start_receiver()
    off = await _due_task_user(
        services, "off@example.com", email_enabled=False, webhook_url=receiver.url
    )
    kind_off = await _due_task_user(services, "k@example.com", task_reminders_enabled=False)
    await run_tick(services, NOW)
    rows = await ledger_rows(services.engine)
    assert {(r["user_id"], r["channel"], r["status"]) for r in rows} == {
        (user, channel, "skipped")
        for user in (off, kind_off)
        for channel in ("email", "in_app", "webhook")
    }
    assert mailbox.messages == [] and receiver.requests == [] and await _in_app_rows(services) == []


async def test_an_unknown_channel_in_preferences_is_skipped_with_the_reason(
    open_channels: OpenChannels, mailbox: CaptureServer
) -> None:
    services = await open_channels()
    user = await _due_task_user(services)
    await _prefer(services, user, "task_due", sms=True)
    await run_tick(services, NOW)
    rows = _by_channel(await ledger_rows(services.engine))
    assert rows == {"email": ("sent", None), "sms": ("skipped", "unknown channel 'sms'")}


async def test_a_slow_receiver_does_not_hold_up_email(
    open_channels: OpenChannels, start_receiver: StartReceiver, mailbox: CaptureServer
) -> None:
    services = await open_channels(webhook_timeout_seconds=30)
    receiver = await start_receiver()
    receiver.release = asyncio.Event()
    slow = await _due_task_user(services, "slow@example.com", webhook_url=receiver.url)
    await _prefer(services, slow, "task_due", email=False, webhook=True)
    for n in range(5):
        await _due_task_user(services, f"p{n}@example.com")
    tick = asyncio.create_task(run_tick(services, NOW))

    async def emails_out() -> bool:
        return len(mailbox.messages) == 5

    await wait_until(emails_out, 20, "five emails while the webhook receiver holds its answer")
    assert len(receiver.requests) == 1 and not tick.done()
    receiver.release.set()
    assert (await tick).sent == 6


async def test_the_webhook_body_is_json_with_the_contracts_fields(
    open_channels: OpenChannels, start_receiver: StartReceiver, mailbox: CaptureServer
) -> None:
    services = await open_channels()
    receiver = await start_receiver()
    user = await _due_task_user(services, webhook_url=receiver.url)
    await _prefer(services, user, "task_due", email=False, webhook=True)
    await run_tick(services, NOW)
    body = json.loads(receiver.requests[0].body)
    assert set(body) == {"text", "kind", "entity_id", "user_id", "slot", "title", "body", "url"}
    assert "\n" not in body["text"]


async def test_a_template_error_in_one_channels_content_costs_that_channel_alone(
    open_channels: OpenChannels, mailbox: CaptureServer
) -> None:
    """A broken short template fails the in-app slot; the email of the same slot goes."""
    services = await open_channels()
    user = await _due_task_user(services)
    await _prefer(services, user, "task_due", in_app=True)
    loader = services.templates.loader
    assert isinstance(loader, FileSystemLoader)
    broken = Environment(
        loader=ChoiceLoader([DictLoader({"task_due/short_title.txt": "{{ 1 // 0 }}"}), loader]),
        autoescape=True,
    )
    services.channels = build_channels(
        services.settings, broken, services.smtp, services.webhooks, services.clock
    )
    counts = await run_tick(services, NOW)
    assert (counts.sent, counts.failed) == (1, 1)
    rows = _by_channel(await ledger_rows(services.engine))
    assert rows["email"] == ("sent", None)
    assert rows["in_app"] == ("failed", "template error: ZeroDivisionError")
    assert len(mailbox.messages) == 1 and await _in_app_rows(services) == []
