"""Which starts reset the copy's instants (``timemath.tz_releases``): pure, every case."""

from __future__ import annotations

import pytest

from notifier.timemath.tz_releases import Recorded, Verdict, release_key, verdict


def test_releases_order_by_year_then_letters() -> None:
    names = ["1999z", "2026a", "2026f", "2026z", "2026aa", "2027a"]
    keys = [release_key(name) for name in names]
    assert keys == sorted(keys)  # type: ignore[type-var]
    assert len(set(keys)) == len(keys)


def test_the_package_version_names_the_same_release() -> None:
    assert release_key("tzdata 2026.6") == release_key("2026f")
    assert release_key("tzdata 2026.6.post1") == release_key("2026f")
    for unreadable in ("unknown", "", "2026", "2026F", "version 2026f"):
        assert release_key(unreadable) is None


@pytest.mark.parametrize(
    ("record", "mine", "expected"),
    [
        (None, "2026f", Verdict.RESET),  # first start after migration 0011
        (Recorded("2026e", True), "2026f", Verdict.RESET),  # a newer release
        (Recorded("2026f", True), "2026f", Verdict.KEEP),
        (Recorded("2026f", True), "tzdata 2026.6", Verdict.KEEP),  # same release, other name
        (Recorded("2026f", False), "2026f", Verdict.RESET),  # a reset stopped half-way
        (Recorded("2026g", True), "2026f", Verdict.OLDER),  # rolling deploy: no reset back
        (Recorded("2026g", False), "2026f", Verdict.OLDER),  # the newer one finishes it
        (Recorded("garbled", True), "2026f", Verdict.RESET),
        (Recorded("2026e", True), "unknown", Verdict.UNKNOWN),
        (None, "unknown", Verdict.UNKNOWN),
    ],
)
def test_verdict(record: Recorded | None, mine: str, expected: Verdict) -> None:
    assert verdict(record, mine) is expected


def test_the_reset_puts_back_every_kinds_instant() -> None:
    from notifier.services.tz_reset import NEXT_COLUMNS

    assert set(NEXT_COLUMNS) == {"digest_next", "notes_reminder_next", "weekly_report_next"}
