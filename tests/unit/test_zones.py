"""Local wall-clock times resolve to instants by the contract's gap and fold rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from notifier.timemath.zones import UnknownZoneError, effective_zone_name, get_zone, local_to_utc


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected"),
    [
        (
            "America/New_York",
            date(2026, 3, 8),
            time(2, 30),
            datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
        ),
        (
            "America/New_York",
            date(2026, 11, 1),
            time(1, 30),
            datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        ),
        ("America/New_York", date(2026, 7, 1), time(7, 0), datetime(2026, 7, 1, 11, 0, tzinfo=UTC)),
        ("Asia/Kathmandu", date(2026, 1, 5), time(7, 0), datetime(2026, 1, 5, 1, 15, tzinfo=UTC)),
        ("Australia/Eucla", date(2026, 1, 5), time(7, 0), datetime(2026, 1, 4, 22, 15, tzinfo=UTC)),
        (
            "Pacific/Kiritimati",
            date(2026, 1, 5),
            time(7, 0),
            datetime(2026, 1, 4, 17, 0, tzinfo=UTC),
        ),
        (
            "Pacific/Pago_Pago",
            date(2026, 1, 5),
            time(7, 0),
            datetime(2026, 1, 5, 18, 0, tzinfo=UTC),
        ),
        ("Europe/London", date(2026, 3, 29), time(1, 30), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        (
            "Australia/Lord_Howe",
            date(2026, 10, 4),
            time(2, 15),
            datetime(2026, 10, 3, 15, 45, tzinfo=UTC),
        ),
        ("Pacific/Apia", date(2011, 12, 30), time(7, 0), None),
        ("Pacific/Apia", date(2011, 12, 31), time(7, 0), datetime(2011, 12, 30, 17, 0, tzinfo=UTC)),
    ],
)
def test_local_to_utc(zone: str, day: date, at: time, expected: datetime | None) -> None:
    assert local_to_utc(day, at, get_zone(zone)) == expected


def test_zone_falls_back_from_user_to_workspace_to_utc() -> None:
    assert effective_zone_name("Asia/Tokyo", "Europe/Paris") == "Asia/Tokyo"
    assert effective_zone_name(None, "Europe/Paris") == "Europe/Paris"
    assert effective_zone_name(None, None) == "UTC"


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "../etc/passwd", "Europe/"])
def test_unknown_zones_raise_one_error_type(name: str) -> None:
    with pytest.raises(UnknownZoneError):
        get_zone(name)
