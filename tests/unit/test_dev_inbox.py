"""The SMTP catcher's store, the webhook receiver and the web inbox's pages, in process.

No browser: the pages are read as text. In-app rows and webhook bodies carry markup and a
``javascript:`` link, so every page must show them escaped and never as a live link.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import aiosmtplib
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from notifier.config import Settings
from notifier.content.mime import OutgoingMessage, build_message
from notifier.delivery.webhook import signature_headers
from notifier.dev.in_app_feed import FeedItem, InAppFeed, UserFeed
from notifier.dev.inbox import BODY_CSP, inbox_app
from notifier.dev.smtp_catcher import CaughtMessage, Mailbox, bound_port, start_catcher
from notifier.dev.standins import dev_webhooks, new_webhook_secret
from notifier.dev.webhook_catcher import HookBox, hook_url, runner_port, start_receiver

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


SECRET = new_webhook_secret()
HOOK_BODY = {
    "text": f"Reminder: {EVIL}",
    "kind": "appointment_reminder",
    "user_id": str(uuid.uuid4()),
    "title": f"Reminder: {EVIL}",
    "body": f"{EVIL} at 14:00",
    "url": "javascript:alert(2)",
}


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """Signed now: the receiver, like any, refuses a timestamp over five minutes old (a
    time taken at import went stale once the whole suite ran before this test)."""
    return signature_headers(secret, "msg_1", datetime.now(UTC), body)


def test_dev_webhooks_make_a_secret_per_run_and_allow_loopback_for_dev_only() -> None:
    plain = Settings()
    first, second = dev_webhooks(plain), dev_webhooks(plain)
    assert first.webhook_allow_private and not plain.webhook_allow_private
    assert first.webhook_secret is not None and second.webhook_secret is not None
    assert first.webhook_secret != second.webhook_secret
    assert first.webhook_secret.get_secret_value().startswith("whsec_")
    given = Settings(webhook_secret=SECRET)
    assert dev_webhooks(given).webhook_secret == given.webhook_secret


def test_the_receiver_verifies_signatures_with_the_runs_secret() -> None:
    box = HookBox(SECRET)
    body = json.dumps(HOOK_BODY).encode()
    good = box.add("/hooks/rangi", _signed(body), body)
    forged = box.add("/hooks/rangi", _signed(body, new_webhook_secret()), body)
    tampered = box.add("/hooks/rangi", _signed(body), body.replace(b"14:00", b"15:00"))
    unsigned = box.add("/hooks/rangi", {}, body)
    assert [h.verified for h in (good, forged, tampered, unsigned)] == [True, False, False, False]
    assert good.field("kind") == "appointment_reminder" and good.field("missing") == ""


async def test_the_receiver_answers_200_only_to_a_verified_post() -> None:
    box = HookBox(SECRET)
    runner = await start_receiver(box, "127.0.0.1", 0)
    body = json.dumps(HOOK_BODY).encode()
    try:
        async with aiohttp.ClientSession() as session:
            url = hook_url(runner_port(runner), "rangi")
            async with session.post(url, data=body, headers=_signed(body)) as ok:
                assert ok.status == 200
            async with session.post(url, data=body, headers={}) as refused:
                assert refused.status == 401
    finally:
        await runner.cleanup()
    assert [(h.path, h.verified) for h in box.all()] == [
        ("/hooks/rangi", True),
        ("/hooks/rangi", False),
    ]


class _Feed(InAppFeed):
    """Rows as the database would return them, without a database."""

    def __init__(self, feeds: list[UserFeed]) -> None:
        self._feeds = feeds

    async def feeds(self) -> list[UserFeed]:
        return self._feeds


def _feed() -> _Feed:
    created = datetime(2026, 3, 8, 14, 0, tzinfo=UTC)
    items = [
        FeedItem(
            uuid.uuid4(), "task_due", f"Due: {EVIL}", EVIL, "javascript:alert(3)", created, None
        ),
        FeedItem(
            uuid.uuid4(),
            "appointment_reminder",
            "Reminder",
            "Body",
            "https://app.practice.test/a/1",
            created - timedelta(minutes=1),
            created,
        ),
    ]
    return _Feed([UserFeed(uuid.uuid4(), f"Lea {EVIL}", "lea@example.com", items)])


@pytest.fixture
async def full_inbox() -> AsyncIterator[Client]:
    box = HookBox(SECRET)
    body = json.dumps(HOOK_BODY).encode()
    box.add("/hooks/rangi", _signed(body), body)
    box.add("/hooks/rangi", {}, body)
    app = inbox_app(Mailbox(), box, _feed(), "http://127.0.0.1:1/hooks/")
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


async def test_the_in_app_page_shows_each_feed_escaped(full_inbox: Client) -> None:
    response = await full_inbox.get("/in-app")
    page = await response.text()
    assert response.status == 200 and "DEV MODE" in page and 'data-api="/api/in-app"' in page
    assert "Lea Sam &lt;b&gt;Bold&lt;/b&gt;" in page and "<script>alert" not in page
    assert 'href="javascript' not in page and "javascript:alert(3)" in page
    assert '<a href="https://app.practice.test/a/1" rel="noreferrer">' in page
    assert page.count('data-read="no"') == 1 and "read 2026-03-08 14:00" in page
    listing = json.loads(await (await full_inbox.get("/api/in-app")).text())
    assert listing["count"] == 2 and listing["users"][0]["notifications"][1]["read"] is True


async def test_the_webhooks_page_shows_posts_escaped_with_their_verdict(full_inbox: Client) -> None:
    page = await (await full_inbox.get("/webhooks")).text()
    assert 'data-verified="yes"' in page and 'data-verified="no"' in page
    assert "NOT verified" in page and "webhook-signature: v1," in page
    assert "Reminder: Sam &lt;b&gt;Bold&lt;/b&gt; &lt;script&gt;" in page
    assert "<script>alert" not in page and 'href="javascript' not in page
    listing = json.loads(await (await full_inbox.get("/api/webhooks")).text())
    assert listing["count"] == 2 and [p["verified"] for p in listing["posts"]] == [True, False]


async def test_without_a_receiver_or_database_the_pages_say_so(inbox: Client) -> None:
    assert "No webhook posts yet" in await (await inbox.get("/webhooks")).text()
    in_app = await (await inbox.get("/in-app")).text()
    assert "no database is connected" in in_app
