"""Which reminder offsets of an appointment a tick sends, skips or leaves alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.rules.appointment_reminders import BadOffsetsError, due_offsets, parse_offsets
from notifier.timemath.windows import catch_up_window

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _due(now: datetime, offsets: list[int]) -> list[tuple[int, bool]]:
    window = catch_up_window(now, HOUR)
    return [(d.minutes, d.send) for d in due_offsets(START, offsets, window, now)]


@pytest.mark.parametrize(
    ("minutes_before", "offsets", "expected"),
    [
        (60, [60], [(60, True)]),
        (61, [60], []),
        (0, [15], []),  # started: nothing
        (10, [15, 30, 60], [(15, True), (30, False), (60, False)]),
        (25, [15, 30, 60], [(30, True), (60, False)]),
        (1440, [1440, 60], [(1440, True)]),
        (121, [120], []),
    ],
)
def test_due_offsets(
    minutes_before: int, offsets: list[int], expected: list[tuple[int, bool]]
) -> None:
    assert _due(START - timedelta(minutes=minutes_before), offsets) == expected


def test_a_slot_is_owned_by_exactly_one_of_consecutive_ticks() -> None:
    ticks = [START - timedelta(minutes=200) + timedelta(seconds=37 * i) for i in range(400)]
    owners = [t for t in ticks if _due(t, [120])]
    windows = [catch_up_window(t, timedelta(seconds=37)) for t in ticks]
    slot = START - timedelta(minutes=120)
    assert sum(slot in w for w in windows) == 1
    assert owners  # and within a 60-minute catch-up, several ticks could see it: the ledger decides


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, (60,)), ([60], (60,)), ([30, 15, 30], (15, 30)), ([], ()), ([1440, 120], (120, 1440))],
)
def test_parse_offsets(raw: object, expected: tuple[int, ...]) -> None:
    assert parse_offsets(raw) == expected


@pytest.mark.parametrize("raw", [[-5], ["abc"], [1000000000], "60", {"m": 60}, [True], 60, [60.5]])
def test_bad_offsets_are_refused(raw: object) -> None:
    with pytest.raises(BadOffsetsError):
        parse_offsets(raw)
