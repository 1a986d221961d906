"""A claim is the only thing between two ticks and one slot: these keep it honest.

Found in review: a send that outlived its claim's lease, a ``sent`` mark whose commit failed
after the server took the message, and a cancelled tick that handed back a claim whose
message was already accepted, each let a later tick email the slot a second time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import and_, func, select, text

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.schema import reminders_sent
from notifier.delivery import ledger
from notifier.delivery.ledger import SlotKey
from notifier.services.appointment_reminders import run_tick
from notifier.services.counts import TickCounts
from tests.conftest import real_clock
from tests.support.data import Data
from tests.support.ledger import ledger_rows
from tests.support.smtp import CaptureServer
from tests.support.worker import wait_until

START = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
DUE = START - timedelta(minutes=60)


@pytest.fixture
async def one_connection(settings: Settings) -> AsyncIterator[Services]:
    """One SMTP connection and a one-second lease: a slow relay outlasts the lease."""
    svc = open_services(settings.model_copy(update={"smtp_pool_size": 1}), real_clock)
    svc.settings.claim_lease_seconds = 1
    yield svc
    await close_services(svc)


async def test_no_send_outlives_its_claims_lease(
    one_connection: Services, mailbox: CaptureServer
) -> None:
    services, data = one_connection, Data(one_connection.engine)
    mailbox.handler.rcpt_delay = 0.3  # 5 sends take 1.5 s on the one connection
    addresses = [f"p{i}@example.com" for i in range(5)]
    for address in addresses:
        await data.appointment(await data.user(email=address), START)
    first = asyncio.create_task(run_tick(services, DUE))
    # As soon as the first tick's claims have run out, the next tick may take them over.
    await wait_until(lambda: _claims_ran_out(services, 5), 10, "the first tick's leases")
    await run_tick(services, DUE + timedelta(minutes=1))
    await first
    for minute in range(2, 10):  # what was handed back goes out with the following ticks
        if (await _ledger(services))["pending"] == 0:
            break
        await run_tick(services, DUE + timedelta(minutes=minute))
    assert sorted(m.rcpt_tos[0] for m in mailbox.messages) == addresses
    assert {r["status"] for r in await ledger_rows(services.engine)} == {"sent"}


async def _ledger(services: Services) -> dict[str, int]:
    """Rows, ``pending`` rows, and pending rows whose lease still holds."""
    rs = reminders_sent.c
    pending = rs.status == "pending"
    stmt = select(
        func.count(),
        func.count().filter(pending),
        func.count().filter(and_(pending, rs.lease_until > func.now())),
    ).select_from(reminders_sent)
    async with services.engine.connect() as conn:
        rows, waiting, held = (await conn.execute(stmt)).one()
    return {"rows": rows, "pending": waiting, "held": held}


async def _claims_ran_out(services: Services, rows: int) -> bool:
    counts = await _ledger(services)
    return counts["rows"] == rows and counts["held"] == 0


async def test_a_failed_sent_mark_is_written_again_not_left_for_a_resend(
    services: Services, data: Data, mailbox: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ledger.mark_sent_many
    failures = [ConnectionResetError("database restarting")]

    async def restarting(*args: object) -> None:
        if failures:
            raise failures.pop()
        await real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ledger, "mark_sent_many", restarting)
    await data.appointment(await data.user(email="pat@example.com"), START)
    counts = await run_tick(services, DUE)
    assert (counts.sent, failures) == (1, [])
    [row] = await ledger_rows(services.engine)
    assert row["status"] == "sent"


async def test_a_cancelled_tick_keeps_the_claim_of_a_message_the_server_took(
    services: Services, data: Data, mailbox: CaptureServer
) -> None:
    mailbox.handler.answer_delay = 1.0  # the message is taken; the answer is slow
    await data.appointment(await data.user(email="pat@example.com"), START)
    first = asyncio.create_task(run_tick(services, DUE))

    async def stored() -> bool:
        return len(mailbox.messages) == 1

    await wait_until(stored, 10, "the server to store the message", interval=0.01)
    first.cancel()  # a worker stopping, or arq's timeout, before the answer came
    with pytest.raises(asyncio.CancelledError):
        await first
    again: TickCounts = await run_tick(services, DUE + timedelta(minutes=1))
    assert (again.sent, again.already_done, len(mailbox.messages)) == (0, 1, 1)


async def test_overlapping_claims_wait_for_each_other_instead_of_deadlocking(
    services: Services,
) -> None:
    """A tick re-selects slots an earlier tick's batch still holds, in another order."""
    a, b = sorted(
        (SlotKey("daily_digest", uuid.uuid4(), uuid.uuid4(), START) for _ in range(2)),
        key=lambda k: k.entity_id.bytes,
    )
    lease = timedelta(minutes=5)
    async with services.engine.connect() as first, services.engine.connect() as second:
        assert set(await ledger.claim(first, [a], DUE, lease)) == {a}  # not committed yet
        later = asyncio.create_task(ledger.claim(second, [b, a], DUE, lease))
        await wait_until(lambda: _waiting_for_a_lock(services), 10, "the second claim to wait")
        assert set(await ledger.claim(first, [b], DUE, lease)) == {b}
        await first.commit()
        assert await later == {}


async def _waiting_for_a_lock(services: Services) -> bool:
    stmt = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    async with services.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one()) > 0
