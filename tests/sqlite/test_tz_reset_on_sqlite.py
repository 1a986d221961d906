"""The tz-database reset on ``notifier dev``'s SQLite: migration 0011's table, the chunked
reset and the record, on the embedded dialect (its instants are stored as text)."""

from __future__ import annotations

import pytest

from notifier.app import Services
from notifier.rules.local_time_slots import NOT_COMPUTED
from notifier.services import tz_reset
from notifier.timemath.tz_database import TzDatabase
from notifier.timemath.tz_releases import Verdict
from tests.support.tz_records import (
    COMPUTED,
    instants,
    record,
    recorded,
    users_with_computed_instants,
)

NEW = TzDatabase("bundled", "2026f")


async def test_a_newer_release_resets_every_row_and_is_recorded(
    sqlite_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tz_reset, "CHUNK", 2)
    engine = sqlite_services.engine
    await users_with_computed_instants(engine, 3)
    await record(engine, "2026e")
    assert (await tz_reset.reconcile(engine, NEW)).rows == 3
    assert await instants(engine) == {NOT_COMPUTED}
    assert await recorded(engine) == ("2026f", True)
    assert (await tz_reset.reconcile(engine, NEW)).rows == 0  # nothing left to put back


async def test_the_same_release_touches_nothing(sqlite_services: Services) -> None:
    engine = sqlite_services.engine
    await users_with_computed_instants(engine, 2)
    await record(engine, "2026f")
    assert (await tz_reset.reconcile(engine, NEW)).verdict is Verdict.KEEP
    assert await instants(engine) == {COMPUTED}
