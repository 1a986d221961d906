"""The webhook client against a real HTTP receiver on 127.0.0.1 (loopback only, no other traffic).

With ``allow_private=True`` (development and tests) the receiver is reachable and every answer
is sorted into sent, transient or permanent. With ``allow_private=False``, what a deployment
runs, the same receiver must get nothing at all, whether the URL names a loopback address or a
host name that resolves to one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifier.delivery.smtp import SendError
from notifier.delivery.webhook import WebhookClient, WebhookOptions, signature_headers
from tests.support.receiver import TOKEN, StartReceiver

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
BODY = json.dumps({"text": "Reminder: standup at 09:00", "kind": "task_due"}).encode()


MakeClient = Callable[..., WebhookClient]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    clients: list[WebhookClient] = []

    def make(*, timeout: float = 5.0, allow_private: bool = True) -> WebhookClient:
        client = WebhookClient(WebhookOptions(timeout_seconds=timeout, allow_private=allow_private))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def signed(msg_id: str = "msg_2f1c") -> dict[str, str]:
    return signature_headers(SECRET, msg_id, datetime.now(UTC), BODY)


def assert_private(error: SendError) -> None:
    """A reason names a status, a refusal or a class: never the URL, its token or the body."""
    assert TOKEN not in error.reason and "127.0.0.1" not in error.reason
    assert "localhost" not in error.reason and "standup" not in error.reason
    assert SECRET not in error.reason


def test_the_client_can_be_built_without_a_running_loop() -> None:
    WebhookClient(WebhookOptions(timeout_seconds=1.0, allow_private=False))


async def test_a_2xx_is_sent_and_the_signature_verifies(
    start_receiver: StartReceiver, make_client: MakeClient
) -> None:
    receiver = await start_receiver()
    await make_client().post(receiver.url, BODY, signed("msg_a1"))

    [got] = receiver.requests
    assert got.body == BODY
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["webhook-id"] == "msg_a1"
    assert got.headers["webhook-signature"].startswith("v1,")
    assert Webhook(SECRET).verify(got.body, got.headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(got.body + b" ", got.headers)


def test_the_timestamp_header_is_unix_seconds() -> None:
    moment = datetime(2025, 3, 30, 1, 30, 15, 900_000, tzinfo=UTC)
    headers = signature_headers(SECRET, "msg_t", moment, BODY)
    assert headers["webhook-timestamp"] == "1743298215"
    naive = signature_headers(SECRET, "msg_t", moment.replace(tzinfo=None), BODY)
    assert naive == headers  # a naive moment is UTC, for the header and the signature alike


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(500, False), (503, False), (429, False), (408, False), (400, True), (410, True), (404, True)],
)
async def test_answers_are_sorted_into_transient_and_permanent(
    start_receiver: StartReceiver, make_client: MakeClient, status: int, permanent: bool
) -> None:
    receiver = await start_receiver()
    receiver.status = status
    with pytest.raises(SendError) as caught:
        await make_client().post(receiver.url, BODY, signed())
    assert caught.value.permanent is permanent
    assert caught.value.reason == f"webhook HTTP {status}"
    assert len(receiver.requests) == 1
    assert_private(caught.value)


async def test_a_receiver_slower_than_the_timeout_is_transient(
    start_receiver: StartReceiver, make_client: MakeClient
) -> None:
    receiver = await start_receiver()
    receiver.release = asyncio.Event()
    try:
        with pytest.raises(SendError) as caught:
            await make_client(timeout=0.3).post(receiver.url, BODY, signed())
    finally:
        receiver.release.set()
    assert caught.value.permanent is False
    assert caught.value.reason.startswith("webhook unavailable (")
    assert len(receiver.requests) == 1
    assert_private(caught.value)


async def test_a_connection_reset_is_transient(
    start_receiver: StartReceiver, make_client: MakeClient
) -> None:
    receiver = await start_receiver()
    receiver.reset = True
    with pytest.raises(SendError) as caught:
        await make_client().post(receiver.url, BODY, signed())
    assert caught.value.permanent is False
    assert caught.value.reason.startswith("webhook unavailable (")
    assert_private(caught.value)


async def test_a_closed_port_is_transient(make_client: MakeClient) -> None:
    with socket.socket() as sock:  # bound, never listening: connecting is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(SendError) as caught:
            await make_client().post(f"http://127.0.0.1:{port}/x", BODY, signed())
    assert caught.value.permanent is False
    assert caught.value.reason == "webhook unavailable (ClientConnectorError)"


async def test_a_redirect_is_permanent_and_not_followed(
    start_receiver: StartReceiver, make_client: MakeClient
) -> None:
    first, second = await start_receiver(), await start_receiver()
    first.status, first.location = 302, second.url
    with pytest.raises(SendError) as caught:
        await make_client().post(first.url, BODY, signed())
    assert caught.value.permanent is True
    assert caught.value.reason == "webhook redirect not followed (HTTP 302)"
    assert len(first.requests) == 1
    assert second.requests == []


async def test_two_posts_reuse_one_kept_alive_connection(
    start_receiver: StartReceiver, make_client: MakeClient
) -> None:
    receiver = await start_receiver()
    client = make_client()
    await client.post(receiver.url, BODY, signed("msg_1"))
    await client.post(receiver.url, BODY, signed("msg_2"))
    first, second = receiver.requests
    assert first.transport is second.transport
    assert [r.headers["webhook-id"] for r in receiver.requests] == ["msg_1", "msg_2"]


async def test_a_closed_client_opens_a_new_session_on_next_use(
    start_receiver: StartReceiver, make_client: MakeClient
) -> None:
    receiver = await start_receiver()
    client = make_client()
    await client.post(receiver.url, BODY, signed())
    await client.close()
    await client.post(receiver.url, BODY, signed())
    assert len(receiver.requests) == 2


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("http://127.0.0.1:{port}/hooks/{token}", "must use https"),
        ("https://127.0.0.1:{port}/hooks/{token}", "points to a loopback address"),
        ("https://[::1]:{port}/hooks/{token}", "points to a loopback address"),
        ("https://localhost:{port}/hooks/{token}", "resolves to a loopback address"),
        ("https://LocalHost:{port}/hooks/{token}?t={token}", "resolves to a loopback address"),
    ],
)
async def test_without_allow_private_loopback_gets_nothing(
    start_receiver: StartReceiver, make_client: MakeClient, template: str, words: str
) -> None:
    receiver = await start_receiver()
    url = template.format(port=receiver.port, token=TOKEN)
    with pytest.raises(SendError) as caught:
        await make_client(allow_private=False).post(url, BODY, signed())
    assert caught.value.permanent is True
    assert words in caught.value.reason
    assert receiver.requests == []
    assert_private(caught.value)
