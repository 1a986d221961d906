"""The recipient policy over every kind, channel and switch (issue 14: one policy)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import product

import pytest

from notifier.rules.kinds import KINDS, Kind
from notifier.rules.quiet_hours import QuietHours
from notifier.rules.recipient import SEND, Hold, RecipientState, Skip, decide

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CHANNELS = ("email", "in_app", "webhook")
SWITCHES = list(product([True, False], repeat=3))  # is_active, notifications_on, kind_on
QUIET = QuietHours(time(10), time(15))  # in UTC, the state's default zone


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
    until = NOW + timedelta(hours=3)  # 10:00-15:00 UTC, NOW is 12:00
    state = RecipientState(True, True, True, QUIET)
    decision = decide(state, kind, channel, NOW)
    assert decision == (SEND if channel == "in_app" else Hold(until))
    assert decide(state, kind, channel, until) == SEND


def test_a_switch_off_wins_over_a_hold() -> None:
    state = RecipientState(True, False, True, QUIET)
    assert decide(state, KINDS[0], "email", NOW) == Skip("notifications are off (email_enabled)")


def test_a_hold_reaching_the_deadline_sends_at_once() -> None:
    """Contract section 10: a reminder the hold would carry to or past the appointment's
    start goes at its own due instant instead."""
    state = RecipientState(True, True, True, QUIET)
    end = NOW + timedelta(hours=3)
    assert decide(state, KINDS[0], "email", NOW, deadline=end) == SEND
    assert decide(state, KINDS[0], "email", NOW, deadline=end + timedelta(seconds=1)) == Hold(end)


def test_the_period_is_read_in_the_users_zone() -> None:
    """10:00-15:00 in New York (UTC-4 in March after the switch) is 14:00-19:00 UTC."""
    row = {
        "is_active": True,
        "email_enabled": True,
        "kind_enabled": True,
        "quiet_start": time(10),
        "quiet_end": time(15),
        "user_zone": None,
        "workspace_zone": "America/New_York",
    }
    state = RecipientState.from_row(row)
    assert decide(state, KINDS[0], "email", NOW) == SEND
    held = decide(state, KINDS[0], "email", NOW + timedelta(hours=3))
    assert held == Hold(datetime(2026, 3, 10, 19, 0, tzinfo=UTC))


@pytest.mark.parametrize(("start", "end"), [(time(10), None), (None, time(15)), (time(9), time(9))])
def test_one_end_unset_or_equal_ends_mean_no_period(start: time | None, end: time | None) -> None:
    row = {
        "is_active": 1,
        "email_enabled": 1,
        "kind_enabled": 1,
        "quiet_start": start,
        "quiet_end": end,
    }
    assert RecipientState.from_row(row).quiet is None
    assert decide(RecipientState.from_row(row), KINDS[0], "email", NOW) == SEND
