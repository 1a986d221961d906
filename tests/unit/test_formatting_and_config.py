"""How times read to people, and how configuration is read and refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from notifier.config import Settings, to_async_url
from notifier.content.formatting import duration_phrase, long_local, short_local, zone_label
from notifier.jobs.arq_jobs import scheduled_instant
from notifier.timemath.zones import get_zone


@pytest.mark.parametrize(
    ("minutes", "phrase"),
    [
        (15, "in 15 minutes"),
        (60, "in 1 hour"),
        (90, "in 1 hour 30 minutes"),
        (1440, "in 24 hours"),
        (1, "in 1 minute"),
        (0, "in 0 minutes"),
    ],
)
def test_duration_phrase(minutes: int, phrase: str) -> None:
    assert duration_phrase(timedelta(minutes=minutes)) == phrase


@pytest.mark.parametrize(
    ("zone", "label"),
    [
        ("America/New_York", "America/New_York, EST"),
        ("Asia/Kathmandu", "Asia/Kathmandu, UTC+05:45"),
        ("UTC", "UTC, UTC+00:00"),
        ("Pacific/Pago_Pago", "Pacific/Pago_Pago, SST"),
    ],
)
def test_zone_label_names_the_zone(zone: str, label: str) -> None:
    assert zone_label(datetime(2026, 1, 5, 12, tzinfo=UTC), get_zone(zone)) == label


def test_long_local_is_in_the_users_zone() -> None:
    instant = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert long_local(instant, get_zone("America/New_York")) == "Sunday 8 March 2026, 03:30"


def test_scheduled_instant_from_arq_cron_job_id() -> None:
    assert scheduled_instant("cron:appointment_reminders:1772978400000") == datetime(
        2026, 3, 8, 14, 0, tzinfo=UTC
    )
    assert scheduled_instant("3f2a") is None and scheduled_instant(None) is None


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CATCH_UP_MINUTES", "HEALTH_PORT", "JOB_OVERDUE_SCANNER_SCHEDULE"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert (s.catch_up_minutes, s.health_port) == (60, 8080)
    assert s.job_schedule("overdue_scanner") == "*/15 * * * *"
    assert s.job_schedule("appointment_reminders") == "* * * * *"


def test_env_switches_a_job_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_DAILY_DIGEST_ENABLED", "false")
    assert Settings().job_enabled("daily_digest") is False


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("JOB_CLEANUP_SCHEDULE", "daily"),
        ("SMTP_PORT", "0"),
        ("MAIL_FROM", "x\r\nBcc: y@z"),
        ("CATCH_UP_MINUTES", "-1"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError):
        Settings()


def test_secrets_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw-secret@db/x")
    text = repr(Settings())
    assert "hunter2" not in text and "pw-secret" not in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgres://h/d", "postgresql+asyncpg://h/d"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql+asyncpg://h/d", "postgresql+asyncpg://h/d"),
    ],
)
def test_plain_urls_get_async_drivers(url: str, expected: str) -> None:
    assert to_async_url(url) == expected


@given(
    st.datetimes(datetime(1970, 1, 2), datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(["America/New_York", "Asia/Kathmandu", "Pacific/Kiritimati", "UTC"]),
)
def test_local_times_read_as_strftime_writes_them_in_english(
    instant: datetime, zone_name: str
) -> None:
    local = instant.astimezone(get_zone(zone_name))
    long = f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M}"
    short = f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"
    assert long_local(instant, get_zone(zone_name)) == long
    assert short_local(instant, get_zone(zone_name)) == short
