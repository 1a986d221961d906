"""``notifier check``'s pure parts: configuration problems, and secrets scrubbed everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

from notifier.config import Settings
from notifier.ops.checks import (
    FAIL,
    OK,
    WARN,
    check_configuration,
    database_location,
    describe_error,
    redis_location,
    secrets_of,
)

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


SECRET = "kP3v9-unsubscribe-signing-key"
# What a production configuration has for one-click unsubscribe (contract section 10).
UNSUBSCRIBE = {"secret_key": SECRET, "public_base_url": "https://notify.example.com"}


def settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


def sound(**values: object) -> Settings:
    """Settings with nothing to warn about, and ``values`` on top."""
    return settings(**{**UNSUBSCRIBE, **values})


def test_a_sound_configuration_is_ok() -> None:
    result = check_configuration(sound(), NOW)
    assert result.status == OK and "9 of 9 jobs enabled" in result.detail


def test_each_problem_is_named() -> None:
    result = check_configuration(
        settings(
            smtp_username="mailer",
            smtp_tls=True,
            smtp_starttls=True,
            job_appointment_reminders_schedule="0 */2 * * *",
        ),
        NOW,
    )
    assert result.status == FAIL
    assert "SMTP_USERNAME and SMTP_PASSWORD" in result.detail
    assert "SMTP_TLS and SMTP_STARTTLS" in result.detail
    assert "JOB_APPOINTMENT_REMINDERS_SCHEDULE leaves 120 min between ticks" in result.detail


def test_a_slow_schedule_is_fine_once_the_window_covers_it() -> None:
    result = check_configuration(
        sound(job_appointment_reminders_schedule="0 */2 * * *", catch_up_minutes=120), NOW
    )
    assert result.status == OK


def test_warnings_do_not_fail() -> None:
    off = {f"job_{job}_enabled": False for job in ("appointment_reminders",)}
    result = check_configuration(settings(app_base_url="app.example.com", **off), NOW)
    assert result.status == WARN and "APP_BASE_URL" in result.detail


def test_locations_and_errors_never_carry_a_secret() -> None:
    s = settings(
        database_url="postgresql://app:db-pass-1@db.internal:6432/notify",
        redis_url="redis://:redis-pass-2@cache.internal:6380/3",
        smtp_password="smtp-pass-3",
        smtp_username="mailer",
    )
    assert set(secrets_of(s)) == {"db-pass-1", "redis-pass-2", "smtp-pass-3"}
    assert database_location(s) == "db.internal:6432/notify"
    assert redis_location(s) == "cache.internal:6380/3"
    error = ConnectionError("cannot reach redis://:redis-pass-2@cache.internal:6380/3 (db-pass-1)")
    text = describe_error(error, secrets_of(s))
    assert "pass" not in text and text.startswith("ConnectionError: cannot reach")


def test_webhook_settings_that_are_likely_mistakes_are_warned() -> None:
    unsigned = check_configuration(settings(default_channels="email,webhook"), NOW)
    assert unsigned.status == WARN and "WEBHOOK_SECRET is unset" in unsigned.detail
    private = check_configuration(settings(webhook_allow_private=True), NOW)
    assert private.status == WARN and "development only" in private.detail


def test_a_bad_webhook_secret_or_channel_stops_the_start_without_echoing_it() -> None:
    for bad in ({"webhook_secret": "whsec_!!!"}, {"default_channels": "email,sms"}):
        with pytest.raises(pydantic.ValidationError) as caught:
            settings(**bad)
        [error] = caught.value.errors()  # what ``notifier`` prints: the name and the message
        assert error["loc"] == (next(iter(bad)),) and "!!!" not in error["msg"]


def test_without_secret_key_or_public_base_url_emails_have_no_one_click_unsubscribe() -> None:
    """A warning, not a failure: mail still goes, without List-Unsubscribe."""
    for values, named in (
        ({"public_base_url": "https://notify.example.com"}, "SECRET_KEY is unset"),
        ({"secret_key": SECRET}, "PUBLIC_BASE_URL is unset"),
        ({}, "SECRET_KEY and PUBLIC_BASE_URL are unset"),
    ):
        result = check_configuration(settings(**values), NOW)
        assert result.status == WARN and result.line().startswith("warn "), (values, result)
        assert named in result.detail and "one-click unsubscribe" in result.detail
        assert "9 of 9 jobs enabled" in result.detail
        assert SECRET not in result.line()


def test_public_base_url_wants_https_except_on_a_local_host() -> None:
    plain = check_configuration(sound(public_base_url="http://notify.example.com"), NOW)
    assert plain.status == WARN and "PUBLIC_BASE_URL should start with https://" in plain.detail
    assert SECRET not in plain.line()
    for local in ("http://localhost:8090", "http://127.0.0.1:8090/notifier"):
        assert check_configuration(sound(public_base_url=local), NOW).status == OK, local
    both = check_configuration(settings(public_base_url="http://notify.example.com"), NOW)
    assert "SECRET_KEY is unset" in both.detail and "https://" in both.detail
