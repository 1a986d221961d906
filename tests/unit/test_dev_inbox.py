"""The SMTP catcher's store and the web inbox's pages, served in process (no browser)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiosmtplib
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from notifier.content.mime import OutgoingMessage, build_message
from notifier.dev.inbox import BODY_CSP, inbox_app
from notifier.dev.smtp_catcher import CaughtMessage, Mailbox, bound_port, start_catcher

Client = TestClient[web.Request, web.Application]
EVIL = "Sam <b>Bold</b> <script>alert(1)</script>"


def _message(subject: str = f"Reminder: {EVIL}") -> bytes:
    return build_message(
        OutgoingMessage(
            from_addr="notifier@practice.test",
            to_addr="ana@example.com",
            subject=subject,
            text=f"Hello, {EVIL}",
            html="<p>Hello, Sam &lt;b&gt;Bold&lt;/b&gt;</p><script>alert(1)</script>",
            message_id="<abc@practice.test>",
            kind="appointment_reminder",
            date=datetime(2026, 3, 8, 14, 0, tzinfo=UTC),
        )
    )


def test_the_store_parses_headers_and_both_bodies() -> None:
    caught = Mailbox().add("notifier@practice.test", ["ana@example.com"], _message())
    assert (caught.id, caught.kind, caught.to) == (1, "appointment_reminder", "ana@example.com")
    assert caught.subject == f"Reminder: {EVIL}"
    assert caught.text.startswith("Hello, Sam <b>") and "<script>" in caught.html


def test_the_store_is_bounded_and_never_reuses_ids() -> None:
    seen: list[CaughtMessage] = []
    mailbox = Mailbox(limit=2, on_message=seen.append)
    for _ in range(3):
        mailbox.add("a@b.c", ["d@e.f"], _message())
    assert [m.id for m in mailbox.all()] == [2, 3]
    assert [m.id for m in seen] == [1, 2, 3]
    assert mailbox.get(1) is None


async def test_the_catcher_accepts_mail_over_smtp() -> None:
    mailbox = Mailbox()
    server = await start_catcher(mailbox, "127.0.0.1", 0)
    try:
        await aiosmtplib.send(
            _message(),
            sender="notifier@practice.test",
            recipients=["ana@example.com"],
            hostname="127.0.0.1",
            port=bound_port(server),
        )
    finally:
        server.close()
    assert [m.kind for m in mailbox.all()] == ["appointment_reminder"]


@pytest.fixture
async def inbox() -> AsyncIterator[Client]:
    mailbox = Mailbox()
    mailbox.add("notifier@practice.test", ["ana@example.com"], _message())
    client: Client = TestClient(TestServer(inbox_app(mailbox)))
    await client.start_server()
    yield client
    await client.close()


async def test_the_list_is_marked_dev_and_escapes_everything(
    inbox: Client,
) -> None:
    response = await inbox.get("/")
    page = await response.text()
    assert response.status == 200 and "DEV MODE" in page and "<title>" in page
    assert "Sam &lt;b&gt;Bold&lt;/b&gt;" in page and "<script>alert" not in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


async def test_a_message_shows_its_html_only_in_a_sandbox(
    inbox: Client,
) -> None:
    page = await (await inbox.get("/messages/1")).text()
    assert '<iframe id="html-body" title="HTML body" sandbox ' in page
    body = await inbox.get("/messages/1/html")
    assert body.headers["Content-Security-Policy"] == BODY_CSP
    assert BODY_CSP.startswith("sandbox;")
    text = await (await inbox.get("/messages/1?view=text")).text()
    assert "Hello, Sam &lt;b&gt;Bold&lt;/b&gt; &lt;script&gt;" in text


async def test_the_api_lists_messages_and_unknown_ids_are_404(
    inbox: Client,
) -> None:
    listing = json.loads(await (await inbox.get("/api/messages")).text())
    assert listing["mode"] == "dev" and listing["count"] == 1
    assert listing["messages"][0]["kind"] == "appointment_reminder"
    for path in ("/messages/2", "/messages/x", "/api/messages/9"):
        assert (await inbox.get(path)).status == 404


async def test_requests_for_other_host_names_are_refused(
    inbox: Client,
) -> None:
    response = await inbox.get("/", headers={"Host": "attacker.example:8025"})
    assert response.status == 421
