"""A worker holds the bytes of at most ``SEND_WINDOW`` messages, however large its batches.

Rendering every claimed message of a batch before sending any raised a worker's RSS to each
new peak of concurrent batches, where it stayed (the benchmark's memory phase saw steps of
10 MiB and more).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifier.app import Services, close_services, open_services
from notifier.channels.base import Delivery
from notifier.config import Settings
from notifier.services.appointment_reminders import run_tick
from tests.conftest import real_clock
from tests.support.data import Data
from tests.support.smtp import CaptureServer
from tests.support.worker import wait_until

START = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
WINDOW = 2


@pytest.fixture
async def narrow_window(settings: Settings) -> AsyncIterator[Services]:
    update = {"smtp_pool_size": 1, "send_window": WINDOW}
    services = open_services(settings.model_copy(update=update), real_clock)
    yield services
    await close_services(services)


async def test_messages_are_rendered_only_as_send_slots_free_up(
    narrow_window: Services, mailbox: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, data = narrow_window, Data(narrow_window.engine)
    for i in range(8):
        await data.appointment(await data.user(email=f"p{i}@example.com"), START)
    rendered: list[str] = []
    email = services.channels["email"]
    render = email.render

    def counting(delivery: Delivery, ident: str) -> Any:
        rendered.append(ident)
        return render(delivery, ident)

    monkeypatch.setattr(email, "render", counting)
    mailbox.handler.answer_delay = 0.2  # the first message is taken, its answer is slow
    tick = asyncio.create_task(run_tick(services, START - timedelta(minutes=60)))

    async def first_stored() -> bool:
        return len(mailbox.messages) >= 1

    await wait_until(first_stored, 10, "the server to store the first message")
    assert len(rendered) <= WINDOW
    counts = await tick
    assert (counts.sent, len(rendered), len(mailbox.messages)) == (8, 8, 8)
