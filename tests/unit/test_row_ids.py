"""Ledger row ids sort by the instant they were made (``db.row_ids``): that is what puts a
claim's new rows at the primary key's right edge instead of on random pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from notifier.db.row_ids import time_ordered_id

INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
)


@given(INSTANTS, st.integers(min_value=1, max_value=10**9))
def test_an_id_made_a_millisecond_later_sorts_after(at: datetime, later_ms: int) -> None:
    """Fails if the time bits were not the id's leading bits (or were cut or mis-shifted)."""
    later = at + timedelta(milliseconds=later_ms)
    assert time_ordered_id(at).bytes < time_ordered_id(later).bytes


@given(INSTANTS)
def test_ids_are_rfc_9562_version_7_and_distinct(at: datetime) -> None:
    """A valid UUID (PostgreSQL's ``uuid`` and any reader accept it); random within a ms."""
    first, second = time_ordered_id(at), time_ordered_id(at)
    assert first.version == 7 and first.variant == uuid.RFC_4122
    assert first != second
    assert first.int >> 80 == int(at.timestamp() * 1000)
