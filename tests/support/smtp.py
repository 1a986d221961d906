"""An aiosmtpd capture server: keeps every accepted message, can refuse chosen recipients."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, TextIO

from aiosmtpd.controller import Controller


@dataclass
class Captured:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float = 0.0  # time.monotonic() when it was accepted

    def parsed(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    @property
    def kind(self) -> str:
        return str(self.parsed()["X-Notification-Kind"])


@dataclass
class CaptureHandler:
    """Stores messages; answers ``550`` for addresses in ``reject``, ``451`` while an address
    has ``tempfail`` answers left, and waits ``delay`` seconds per message once it has it all
    (a slow relay: a client cut off meanwhile cannot tell whether it was taken) or
    ``rcpt_delay`` seconds per recipient (slow before the message: a cut loses nothing), or
    ``answer_delay`` seconds after storing a message before saying so.

    It advertises ``PIPELINING`` as Postfix and MailHog do (aiosmtpd reads pipelined commands
    in order), so tests exercise the worker's pipelined path; ``pipelining = False`` gives a
    server without it, for the one-command-at-a-time path."""

    messages: list[Captured] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)
    tempfail: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0
    rcpt_delay: float = 0.0
    answer_delay: float = 0.0
    pipelining: bool = True
    # A relay's rate limit: past ``rate_cap`` recipients accepted in the last second, RCPT is
    # answered ``rate_refusal`` (a 454 or 421, as SES and Postfix's anvil answer).
    rate_cap: int | None = None
    rate_refusal: str = "454 4.7.0 Throttling failure: maximum sending rate exceeded"
    refusals: int = 0
    recent: deque[float] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        if address in self.reject:
            return "550 5.1.1 mailbox unavailable"
        if self.tempfail.get(address, 0) > 0:
            self.tempfail[address] -= 1
            return "451 4.3.0 try again later"
        if self._over_rate():
            self.refusals += 1
            return self.rate_refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def _over_rate(self) -> bool:
        """Counts this recipient in the last second's; True (not counted) past ``rate_cap``."""
        if self.rate_cap is None:
            return False
        now = time.monotonic()
        while self.recent and self.recent[0] <= now - 1.0:
            self.recent.popleft()
        if len(self.recent) >= self.rate_cap:
            return True
        self.recent.append(now)
        return False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.messages.append(
                Captured(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    bytes(envelope.content),
                    time.monotonic(),
                )
            )
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        return "250 Message accepted"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
        self.reject.clear()
        self.tempfail.clear()
        self.delay = self.rcpt_delay = self.answer_delay = 0.0
        self.pipelining = True
        self.rate_cap, self.refusals = None, 0
        self.recent.clear()

    def snapshot(self) -> list[Captured]:
        with self.lock:
            return list(self.messages)


class CaptureServer:
    """aiosmtpd in its own thread, so tests on any event loop can talk to it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.handler = CaptureHandler()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, data_size_limit=10_000_000
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[Captured]:
        return self.handler.snapshot()


def run_capture_server_forever(port: int, out: TextIO) -> None:
    """For local runs: prints a line per message received (kind and recipient count)."""
    server = CaptureServer(port)
    server.start()
    seen = 0
    try:
        while True:
            time.sleep(1)
            messages = server.messages
            for msg in messages[seen:]:
                print(
                    f"captured {msg.kind} for {len(msg.rcpt_tos)} recipient(s)",
                    file=out,
                    flush=True,
                )
            seen = len(messages)
    finally:
        server.stop()
