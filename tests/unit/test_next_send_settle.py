"""``next_send.settle`` with the states ``slot_states`` returns: only the pairs whose state is
not "open, not settled", so a pair left out is open (tests/support/slot_state_cases.py checks
the statement on both databases; these check what ``settle`` makes of what comes back)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from notifier.db.schema import local_time_schedules
from notifier.rules.local_time_slots import NEVER, NOT_COMPUTED
from notifier.services.next_send import (
    UNSEEN_NEW,
    CopyRow,
    CopySchedule,
    Review,
    looked_back,
    review,
    settle,
)
from notifier.timemath.windows import Window

SLOT = datetime(2026, 3, 10, tzinfo=UTC)
USERS = [uuid.UUID(int=n) for n in range(1, 4)]
_COPY = local_time_schedules.c


def owed(users: list[uuid.UUID]) -> Review:
    """Each user owed ``SLOT``, to move on to ``NEVER`` once it is settled."""
    return Review(
        owed={user: [SLOT] for user in users},
        reached={user: [SLOT] for user in users},
        later={
            user: (CopyRow(user, "UTC", time(7), (), NOT_COMPUTED, None), NEVER) for user in users
        },
    )


def test_with_no_state_returned_every_owed_user_is_selected_and_none_moves_on() -> None:
    # 1,000 users just made due: nothing in the ledger, nothing returned.
    found = owed(USERS)
    assert sorted(settle(found, {})) == USERS
    assert found.moves == []


def test_a_returned_state_decides_its_user_and_the_others_are_still_selected() -> None:
    sent, claimed, fresh = USERS
    found = owed(USERS)
    states = {(sent, SLOT): (False, True), (claimed, SLOT): (False, False)}
    assert settle(found, states) == [fresh]
    assert [row.user_id for row, _ in found.moves] == [sent]


def test_a_slot_before_the_window_keeps_its_row_until_settled_but_selects_nobody() -> None:
    # The slot is due in the window before this tick's (its ``reach``): an older tick still
    # running owes it and trusts the instants, so the row must not move past it yet.
    user = USERS[0]
    found = Review(
        owed={user: []},
        reached={user: [SLOT]},
        later={user: (CopyRow(user, "UTC", time(7), (), NOT_COMPUTED, None), NEVER)},
    )
    assert settle(found, {(user, SLOT): (True, False)}) == []
    assert found.moves == []
    assert settle(found, {(user, SLOT): (False, True)}) == []
    assert [row.user_id for row, _ in found.moves] == [user]


DAILY = CopySchedule(
    "k", _COPY.digest_next, _COPY.digest_time, (), lambda: frozenset(range(1, 8)), ()
)


def _daily_row_reviewed(window: Window) -> Review:
    return review([CopyRow(USERS[0], "UTC", time(7), (), NOT_COMPUTED, None)], DAILY, window)


def test_a_missed_slot_holds_its_row_only_within_reach_of_the_window() -> None:
    # 07:00 is before the window (07:05, 08:05] but within REACH (10 minutes) of it: the row
    # stays for a tick behind to find. 10 minutes later it is out of reach: the row moves on
    # (a first pass after a reset would otherwise re-read every such user for a whole window).
    close = _daily_row_reviewed(
        Window(SLOT.replace(hour=7, minute=5), SLOT.replace(hour=8, minute=5))
    )
    assert close.owed == {USERS[0]: []} and close.reached == {USERS[0]: [SLOT]}
    assert close.moves == []
    far = _daily_row_reviewed(
        Window(SLOT.replace(hour=7, minute=15), SLOT.replace(hour=8, minute=15))
    )
    assert far.reached == {} and [row.user_id for row, _ in far.moves] == [USERS[0]]


def _unseen(count: int, instant: datetime) -> Review:
    """``count`` daily 07:00 rows at ``instant``, reviewed by the tick of 12:00 (none due)."""
    rows = [CopyRow(uuid.UUID(int=n), "UTC", time(7), (), instant, None) for n in range(count)]
    return review(rows, DAILY, Window(SLOT.replace(hour=11), SLOT.replace(hour=12)))


def test_a_few_never_computed_rows_are_looked_back_for_and_a_bulk_rewrite_is_not() -> None:
    # A schedule new to the worker may have had a slot held into the window by quiet hours;
    # a tz reset or a deploy rewrites every row, whose slots earlier ticks saw and held.
    assert len(looked_back(_unseen(UNSEEN_NEW, NOT_COMPUTED))) == UNSEEN_NEW
    assert looked_back(_unseen(UNSEEN_NEW + 1, NOT_COMPUTED)) == []
    passed = _unseen(UNSEEN_NEW + 1, SLOT.replace(hour=7))  # passed during an outage
    assert len(looked_back(passed)) == UNSEEN_NEW + 1
    assert looked_back(_unseen(3, SLOT.replace(hour=7) + timedelta(days=1))) == []  # not yet
