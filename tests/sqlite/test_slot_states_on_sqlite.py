"""``next_send.slot_states`` on SQLite (its own statement, over a JSON array of pairs): the
same situations as on PostgreSQL, the same answers."""

from __future__ import annotations

from notifier.app import Services
from tests.support.slot_state_cases import expected, states_by_case


async def test_only_slots_not_open_and_unsettled_come_back_and_each_is_read_right(
    sqlite_services: Services,
) -> None:
    assert await states_by_case(sqlite_services.engine) == expected()
