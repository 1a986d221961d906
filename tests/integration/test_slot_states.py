"""``next_send.slot_states`` on PostgreSQL: a tick with 1,000 due asks the ledger for 1,000
slots, most without rows, so only the slots whose state is not ``settle``'s default ("open,
not settled") come back. Fails if a slot is left out that ``settle`` would then read wrongly,
or if the default ones come back again."""

from __future__ import annotations

from notifier.app import Services
from tests.support.slot_state_cases import expected, states_by_case


async def test_only_slots_not_open_and_unsettled_come_back_and_each_is_read_right(
    services: Services,
) -> None:
    assert await states_by_case(services.engine) == expected()
