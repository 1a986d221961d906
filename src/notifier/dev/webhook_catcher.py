"""The webhook stand-in: a local receiver that keeps every POST and checks its signature.

Dev mode points the demo's webhook user at it, so a newcomer sees the exact signed JSON a
chat tool would get, and whether the signature verifies with the run's ``WEBHOOK_SECRET``,
without any request leaving the machine. It listens on 127.0.0.1 only. Like a real receiver
it answers 401 to a post whose signature does not verify (the worker then records the slot
``failed``, as it would in production). Memory is bounded: past ``limit`` posts the oldest
are dropped.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

DEFAULT_LIMIT = 1000
HOOK_PATH = "/hooks"
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@dataclass(frozen=True)
class CaughtHook:
    """One received POST, parsed once for the inbox."""

    id: int
    received_at: datetime
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    verified: bool

    def field(self, name: str) -> str:
        """A field of the JSON body as text ("" when absent), for the inbox's columns."""
        value = self.payload.get(name)
        return "" if value is None else str(value)

    def pretty_body(self) -> str:
        """The JSON body indented for reading, or the raw text when it is not JSON."""
        if self.payload:
            return json.dumps(self.payload, indent=2, ensure_ascii=False)
        return self.body.decode("utf-8", errors="replace")

    def summary(self) -> dict[str, object]:
        """The list entry of the inbox's JSON API."""
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "kind": self.field("kind"),
            "verified": self.verified,
            "webhook_id": self.headers.get("webhook-id", ""),
            "body": self.payload,
        }


OnHook = Callable[[CaughtHook], None]


def _payload(body: bytes) -> dict[str, Any]:
    """The JSON object of a body; anything else (not JSON, not an object) reads as empty."""
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """Whether the Standard Webhooks signature (and its timestamp tolerance) holds.

    ``verify`` also parses the body as JSON once the signature holds; a signed body that is
    not JSON (ValueError) is not what the contract promises, so it does not count as verified.
    """
    try:
        Webhook(secret).verify(body, {name: headers.get(name, "") for name in SIGNATURE_HEADERS})
    except (WebhookVerificationError, ValueError):
        return False
    return True


class HookBox:
    """The received posts, newest last; ids count up from 1 and are never reused."""

    def __init__(
        self, secret: str, limit: int = DEFAULT_LIMIT, on_hook: OnHook | None = None
    ) -> None:
        self._secret = secret
        self._hooks: deque[CaughtHook] = deque(maxlen=limit)
        self._numbers = itertools.count(1)
        self._on_hook = on_hook

    def add(self, path: str, headers: dict[str, str], body: bytes) -> CaughtHook:
        lowered = {name.lower(): value for name, value in headers.items()}
        caught = CaughtHook(
            id=next(self._numbers),
            received_at=datetime.now(UTC),
            path=path,
            headers=lowered,
            body=body,
            payload=_payload(body),
            verified=verifies(self._secret, body, lowered),
        )
        self._hooks.append(caught)
        if self._on_hook is not None:
            self._on_hook(caught)
        return caught

    def all(self) -> list[CaughtHook]:
        return list(self._hooks)


HOOKBOX: web.AppKey[HookBox] = web.AppKey("hookbox", HookBox)


async def receive(request: web.Request) -> web.Response:
    """Keeps the post; 200 when its signature verifies, 401 otherwise (as a real receiver)."""
    body = await request.read()
    caught = request.app[HOOKBOX].add(request.path, dict(request.headers), body)
    if caught.verified:
        return web.Response(text="ok")
    return web.Response(status=401, text="signature does not verify")


def receiver_app(box: HookBox) -> web.Application:
    app = web.Application()
    app[HOOKBOX] = box
    app.router.add_post(HOOK_PATH + "/{tail:.*}", receive)
    return app


async def start_receiver(box: HookBox, host: str, port: int) -> web.AppRunner:
    """Listens on ``host:port`` (0: any free port); the caller calls ``cleanup()`` at the end."""
    runner = web.AppRunner(receiver_app(box), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def runner_port(runner: web.AppRunner) -> int:
    """The port the receiver actually listens on (useful when asked for port 0)."""
    return int(runner.addresses[0][1])


def receiver_base(port: int) -> str:
    """The receiver's address; any path under it is accepted."""
    return f"http://127.0.0.1:{port}{HOOK_PATH}/"


def hook_url(port: int, user_key: str) -> str:
    """Where the demo user ``user_key``'s webhooks go (a loopback ``http`` URL: dev only)."""
    return receiver_base(port) + user_key
