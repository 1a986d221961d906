"""The ceiling: aiosmtplib alone, pre-built bytes, no database and no templates.

Every other throughput in the report is a ratio to this one, measured into the same sink
over the same number of reused connections, so the ratio says what the pipeline costs on top
of the SMTP client itself.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import aiosmtplib

from notifier.content.mime import OutgoingMessage, build_message, slot_message_id


def sample_message(index: int) -> bytes:
    """A message of the size and shape of an appointment reminder, id made unique."""
    message_id = slot_message_id("blast", index, index, datetime(2026, 1, 1, tzinfo=UTC), "b.t")
    text = "Reminder: your appointment with Casey Client starts in 1 hour.\n" * 8
    return build_message(
        OutgoingMessage(
            from_addr="notifier@bench.test",
            to_addr=f"user{index}@example.com",
            subject="Reminder: Consultation with Casey Client at 3:00 PM",
            text=text,
            html=f"<html><body><p>{text}</p></body></html>",
            message_id=message_id,
            kind="appointment_reminder",
            date=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


async def _connection(port: int, messages: list[bytes]) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    for data in messages:
        await client.sendmail("notifier@bench.test", ["user@example.com"], data)
    await client.quit()


async def blast(port: int, connections: int, count: int) -> float:
    """Sends ``count`` pre-built messages over ``connections`` clients; returns seconds."""
    messages = [sample_message(i) for i in range(count)]
    shares = [messages[i::connections] for i in range(connections)]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, share) for share in shares))
    return time.perf_counter() - started
