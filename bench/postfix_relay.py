"""``python -m bench.postfix_relay``: the worker's SMTP client against a real Postfix.

The suite tests the pipelining client (``delivery.pipelining``) against aiosmtpd and the
benchmark's sink; this checks it against the MTA most relays run. The worker's pool sends
messages with Unicode headers, lines that start with dots and long lines into Postfix, which
relays them to a capture server started here; every message must arrive with the headers
and bodies it left with. Not part of the test command: it needs a Postfix set up by hand
(Debian's ``postfix`` package, as root):

    postconf -e 'relayhost = [127.0.0.1]:2526' 'mydestination =' \\
        'mynetworks = 127.0.0.0/8' 'inet_interfaces = loopback-only' \\
        'smtpd_relay_restrictions = permit_mynetworks, reject'
    # master.cf: the smtpd line "smtp inet ... smtpd" becomes "127.0.0.1:2525 inet n - n - - smtpd"
    postfix start

Postfix 3.4+ offers ``PIPELINING`` and ``CHUNKING`` (the client sends ``BDAT … LAST``);
``postconf -e 'smtpd_discard_ehlo_keywords = chunking'`` and ``postfix reload`` leave
``PIPELINING`` alone (``MAIL``+``RCPT``+``DATA`` in one write). ``debug_peer_list =
127.0.0.1`` shows the commands in Postfix's log.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from notifier.content.mime import OutgoingMessage, build_message
from notifier.delivery.smtp import SmtpOptions, SmtpPool

NAMES = ("Zoë Ångström", "李小龙", "O'Brien =?utf-8?q?x?=", "Ünïcödé " * 12, "plain")


@dataclass
class Capture:
    """What Postfix relayed: recipients and the parsed message, by Message-ID. Runs in the
    controller's thread, hence a thread's event for "all arrived"."""

    expected: int
    messages: dict[str, tuple[list[str], EmailMessage]] = field(default_factory=dict)
    complete: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages[str(parsed["Message-ID"])] = (list(envelope.rcpt_tos), parsed)
        if len(self.messages) >= self.expected:
            self.complete.set()
        return "250 OK"


def sample(i: int) -> OutgoingMessage:
    """Message ``i``: names, dots and line lengths that a careless encoder gets wrong."""
    rnd = random.Random(i)
    return OutgoingMessage(
        from_addr="notifier@example.com",
        to_addr=f"user{i}@example.org",
        subject=f"Reminder {i}: {rnd.choice(NAMES)} at 14:00 ✓",
        text=f"Hello {rnd.choice(NAMES)}\n.\n..leading dots\n" + "línea larga " * 200 + "\n",
        html=f"<p>{rnd.choice(NAMES)}</p>\n.\n" + "<b>x</b>" * 300,
        message_id=f"<slot-{i}@example.com>",
        kind="appointment_reminder",
        date=datetime.now(UTC),
    )


def arrived_intact(sent: OutgoingMessage, arrived: tuple[list[str], EmailMessage] | None) -> bool:
    if arrived is None:
        return False
    rcpts, parsed = arrived
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    return (
        rcpts == [sent.to_addr]
        and str(parsed["Subject"]) == sent.subject
        and str(parsed["X-Notification-Kind"]) == sent.kind
        and text is not None
        and text.get_content() == sent.text
        and html is not None
        and html.get_content() == sent.html
    )


async def send_all(args: argparse.Namespace, messages: list[OutgoingMessage]) -> float:
    """Sends through the worker's pool, as many at once as it has connections; seconds."""
    options = SmtpOptions(args.host, args.port, None, None, False, False, 30.0, args.connections)
    pool, gate = SmtpPool(options), asyncio.Semaphore(args.connections)

    async def one(message: OutgoingMessage) -> None:
        async with gate:
            await pool.send(message.from_addr, message.to_addr, build_message(message))

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(m) for m in messages))
    finally:
        await pool.close()
    return time.perf_counter() - started


async def check(args: argparse.Namespace) -> int:
    capture = Capture(args.messages)
    controller = Controller(capture, hostname="127.0.0.1", port=args.capture_port)
    controller.start()
    try:
        messages = [sample(i) for i in range(args.messages)]
        took = await send_all(args, messages)
        # Postfix's queue manager relays on its own schedule; a minute is ample.
        await asyncio.to_thread(capture.complete.wait, 60)
    finally:
        controller.stop()
    bad = [m for m in messages if not arrived_intact(m, capture.messages.get(m.message_id))]
    print(f"accepted: {len(messages)} in {took:.2f} s; relayed: {len(capture.messages)}")
    print(f"missing or altered: {len(bad)}")
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--capture-port", type=int, default=2526)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=8)
    raise SystemExit(asyncio.run(check(parser.parse_args())))


if __name__ == "__main__":
    main()
