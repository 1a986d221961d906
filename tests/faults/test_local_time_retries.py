"""A digest or notes reminder whose send did not finish is tried again, not lost.

The local-time selection skips slots the ledger already holds. It once skipped ``pending``
rows too, so a claim released after transient SMTP failures, or left by a killed worker, was
never retried within its window (and cleanup later marked it ``failed``). Only final rows,
and claims whose lease still holds, may keep a user out of the selection.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import pytest

from notifier.app import Services
from notifier.delivery.ledger import SlotKey
from notifier.services import daily_digest, notes_reminders
from notifier.services.counts import TickCounts
from tests.support.ledger import insert_claim, ledger_rows
from tests.support.local_time_data import LocalTimeData, midnight, utc
from tests.support.smtp import CaptureServer

DUE = utc(2026, 1, 5, 7, 0)  # 07:00 in UTC, the users' zone
EMAIL = "busy@example.com"


@dataclass(frozen=True)
class Kind:
    name: str
    run_tick: Callable[[Services, datetime], Awaitable[TickCounts]]
    switch: str
    at: str


KINDS = [
    Kind("daily_digest", daily_digest.run_tick, "digest_enabled", "digest_time"),
    Kind(
        "notes_reminder", notes_reminders.run_tick, "notes_reminder_enabled", "notes_reminder_time"
    ),
]


async def due_user(services: Services, kind: Kind) -> uuid.UUID:
    """A user in UTC with ``kind`` due at ``DUE`` (and a draft, for the notes reminder)."""
    people = LocalTimeData(services.engine)
    settings = {kind.switch: True, kind.at: time(7, 0)}
    user = await people.user(email=EMAIL, timezone="UTC", settings=settings)
    await people.session(user)
    return user


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
async def test_a_slot_released_after_transient_failures_is_sent_by_the_next_tick(
    services: Services, mailbox: CaptureServer, kind: Kind
) -> None:
    services.settings.smtp_max_attempts = 2
    mailbox.handler.tempfail = {EMAIL: 3}
    await due_user(services, kind)
    first = await kind.run_tick(services, DUE)
    assert (first.sent, first.deferred) == (0, 1)
    second = await kind.run_tick(services, DUE + timedelta(minutes=1))
    assert second.sent == 1
    [row] = await ledger_rows(services.engine, kind.name)
    assert (row["status"], row["attempts"]) == ("sent", 4)
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize(
    ("lease_left", "sent"), [(timedelta(seconds=-1), 1), (timedelta(minutes=4), 0)]
)
async def test_a_killed_workers_claim_is_taken_over_once_its_lease_ran_out(
    services: Services, mailbox: CaptureServer, kind: Kind, lease_left: timedelta, sent: int
) -> None:
    user = await due_user(services, kind)
    # Leases are wall-clock time (the other worker's), whatever instant the tick is run for.
    wall = services.clock()
    key = SlotKey(kind.name, user, user, midnight(DUE.date()))
    await insert_claim(services.engine, key, wall + lease_left)
    counts = await kind.run_tick(services, DUE + timedelta(minutes=5))
    # A claim still held is not even selected: its batch is still sending it.
    assert (counts.selected, counts.sent, len(mailbox.messages)) == (sent, sent, sent)
    [row] = await ledger_rows(services.engine, kind.name)
    assert row["status"] == ("sent" if sent else "pending")
