"""The recipient policy over every kind, channel and switch (issue 14: one policy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from notifier.rules.kinds import KINDS, Kind
from notifier.rules.recipient import SEND, Hold, RecipientState, Skip, decide

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CHANNELS = ("email", "in_app", "webhook")
SWITCHES = list(product([True, False], repeat=3))  # is_active, notifications_on, kind_on


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(("active", "master", "kind_on"), SWITCHES)
def test_every_switch_off_means_skipped_with_its_reason_on_every_channel(
    kind: Kind, channel: str, active: bool, master: bool, kind_on: bool
) -> None:
    decision = decide(RecipientState(active, master, kind_on), kind, channel, NOW)
    if active and master and kind_on:
        assert decision == SEND
    elif not active:
        assert decision == Skip("user is inactive")
    elif not master:
        assert decision == Skip("notifications are off (email_enabled)")
    else:
        assert isinstance(decision, Skip) and decision.reason.endswith(" are off")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_quiet_period_holds_every_channel_but_in_app(kind: Kind, channel: str) -> None:
    until = NOW + timedelta(hours=3)
    state = RecipientState(True, True, True, quiet_until=until)
    decision = decide(state, kind, channel, NOW)
    assert decision == (SEND if channel == "in_app" else Hold(until))
    assert decide(state, kind, channel, until) == SEND


def test_a_switch_off_wins_over_a_hold() -> None:
    state = RecipientState(True, False, True, quiet_until=NOW + timedelta(hours=1))
    assert decide(state, KINDS[0], "email", NOW) == Skip("notifications are off (email_enabled)")
