"""The SMTP stand-in: accepts every message and keeps it in memory for the web inbox.

It runs aiosmtpd's protocol on the service's own event loop (no thread), so it starts and
stops with everything else. Memory is bounded: past ``limit`` messages the oldest are dropped.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP

DEFAULT_LIMIT = 1000
# The worker's pooled connections sit idle between ticks; a relay-like idle timeout would
# only make the demo retry sends, so the catcher waits a day.
IDLE_TIMEOUT_SECONDS = 24 * 3600


@dataclass(frozen=True)
class CaughtMessage:
    """One accepted message, parsed once for the inbox."""

    id: int
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    to: str
    subject: str
    kind: str
    message_id: str
    date: str
    text: str
    html: str
    raw: bytes

    def summary(self) -> dict[str, object]:
        """The list entry of the inbox's JSON API."""
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "from": self.mail_from,
            "to": self.to,
            "subject": self.subject,
            "kind": self.kind,
            "message_id": self.message_id,
        }


def _body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    return str(part.get_content()) if part is not None else ""


def parse_message(
    number: int, received_at: datetime, mail_from: str, rcpt_tos: list[str], data: bytes
) -> CaughtMessage:
    """Reads the headers and both bodies; a malformed message is kept with what could be read."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return CaughtMessage(
        id=number,
        received_at=received_at,
        mail_from=mail_from,
        rcpt_tos=tuple(rcpt_tos),
        to=str(msg.get("To", ", ".join(rcpt_tos))),
        subject=str(msg.get("Subject", "")),
        kind=str(msg.get("X-Notification-Kind", "")),
        message_id=str(msg.get("Message-ID", "")),
        date=str(msg.get("Date", "")),
        text=_body(msg, "plain"),
        html=_body(msg, "html"),
        raw=data,
    )


OnMessage = Callable[[CaughtMessage], None]


class Mailbox:
    """The caught messages, newest last; ids count up from 1 and are never reused."""

    def __init__(self, limit: int = DEFAULT_LIMIT, on_message: OnMessage | None = None) -> None:
        self._messages: deque[CaughtMessage] = deque(maxlen=limit)
        self._numbers = itertools.count(1)
        self._on_message = on_message

    def add(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> CaughtMessage:
        caught = parse_message(next(self._numbers), datetime.now(UTC), mail_from, rcpt_tos, data)
        self._messages.append(caught)
        if self._on_message is not None:
            self._on_message(caught)
        return caught

    def all(self) -> list[CaughtMessage]:
        return list(self._messages)

    def get(self, number: int) -> CaughtMessage | None:
        return next((m for m in self._messages if m.id == number), None)


class CatcherHandler:
    """aiosmtpd's handler: every recipient is accepted, every message is kept."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        self.mailbox.add(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(content))
        return "250 Message accepted for delivery"


async def start_catcher(mailbox: Mailbox, host: str, port: int) -> asyncio.Server:
    """Listens on ``host:port`` (0: any free port); the caller closes the returned server."""
    handler = CatcherHandler(mailbox)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="notifier-dev",
            data_size_limit=10_000_000,
            enable_SMTPUTF8=True,
            timeout=IDLE_TIMEOUT_SECONDS,
        ),
        host,
        port,
    )


def bound_port(server: asyncio.Server) -> int:
    """The port the server actually listens on (useful when asked for port 0)."""
    return int(server.sockets[0].getsockname()[1])
