"""The retry rules of ``tests/faults/test_local_time_retries.py`` on ``notifier dev``'s SQLite.

The selection statement is written once per dialect; both must let an unfinished slot through.
"""

from __future__ import annotations

import pytest

from notifier.app import Services
from tests.faults.test_local_time_retries import (
    test_a_killed_workers_claim_is_taken_over_once_its_lease_ran_out,
    test_a_slot_released_after_transient_failures_is_sent_by_the_next_tick,
)

__all__ = [
    "test_a_killed_workers_claim_is_taken_over_once_its_lease_ran_out",
    "test_a_slot_released_after_transient_failures_is_sent_by_the_next_tick",
]


@pytest.fixture
def services(sqlite_services: Services) -> Services:
    """The imported tests' ``services``, here on SQLite."""
    return sqlite_services
