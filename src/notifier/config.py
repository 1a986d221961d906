"""Every setting comes from the environment, is validated once at start, and hides its secrets.

A bad value must stop the process at start with the variable's name, never half-way through a
tick; pydantic-settings gives us that message for free.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from standardwebhooks.webhooks import Webhook

from notifier.content.mime import BadAddressError, check_address
from notifier.rules.kinds import CHANNELS, DEFAULT_SCHEDULES, JOB_NAMES
from notifier.timemath.cron import parse_cron

# No white space, quotes, angle brackets or control characters: safe in a header and in HTML.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/%+-]*)?")
MIN_SECRET_KEY_LENGTH = 16
# What DATABASE_URL reaches: PostgreSQL or a pooler that gives each client a server session of
# its own ("session"), or a pooler that lends one per transaction ("transaction": PgBouncer's
# pool_mode = transaction, and its likes). ``db.engine`` says what changes.
Pooling = Literal["session", "transaction"]


class Settings(BaseSettings):
    """The whole configuration; field names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: SecretStr = SecretStr(
        "postgresql+asyncpg://notifier:notifier@localhost:5432/notifier"
    )
    database_pooling: Pooling = "session"
    redis_url: SecretStr = SecretStr("redis://localhost:6379/0")
    smtp_host: str = "localhost"
    smtp_port: int = Field(1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    smtp_pool_size: int = Field(4, ge=1, le=256)
    # Sends in flight or accepted but not yet recorded ``sent``, per worker process: at least
    # SMTP_POOL_SIZE (connections idle while marks commit otherwise); the kill -9 duplicate bound.
    send_window: int = Field(64, ge=1, le=10_000)
    smtp_max_attempts: int = Field(4, ge=1, le=20)
    smtp_retry_base_seconds: float = Field(1.0, ge=0)
    mail_from: str = "notifier@localhost"
    health_host: str = "127.0.0.1"
    health_port: int = Field(8080, ge=0, le=65535)
    catch_up_minutes: int = Field(60, ge=1, le=24 * 60)
    claim_lease_seconds: int = Field(300, ge=10)
    batch_size: int = Field(200, ge=1, le=10_000)
    # arq: jobs (ticks and batches) one worker runs at once, and how often it polls the queue.
    worker_max_jobs: int = Field(20, ge=1, le=1000)
    worker_poll_delay_seconds: float = Field(0.1, gt=0, le=5)
    app_base_url: str = "http://localhost:3000"
    # Channels (contract section 9): on for a kind when no notification_preferences row says
    # otherwise; comma-separated.
    default_channels: str = "email"
    webhook_secret: SecretStr | None = None  # ``whsec_`` + base64, Standard Webhooks
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=300)
    webhook_allow_private: bool = False  # development and tests only
    # Contract sections 10 and 11: links in emails that this service answers itself (the
    # unsubscribe pages of ``notifier web``), the key that signs them, and where it listens.
    public_base_url: str | None = None
    secret_key: SecretStr | None = None
    web_host: str = "127.0.0.1"
    web_port: int = Field(8090, ge=0, le=65535)
    # The operator console (contract section 11) exists only while this is set.
    admin_password: SecretStr | None = None
    # Which tz database every process uses: the bundled ``tzdata`` package (the default, so
    # that every host and image computes the same instants) or the host's zone files.
    tz_database: Literal["bundled", "system"] = "bundled"
    # What a notification may show (contract section 10): full, subject or minimal.
    content_privacy: Literal["full", "subject", "minimal"] = "full"
    # Contract section 12: where the worker's own tables live, where it reads the host's
    # (tables or views), and an optional ``package.module:function`` that decodes host text
    # values (encrypted client names, say) before they go into content.
    notifier_schema: str = Field("public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    host_schema: str = Field("public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    content_decoder: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    # Messages per second across every worker, shared through Redis (unset: no limit).
    smtp_rate_limit: float | None = Field(None, gt=0, le=100_000)
    log_level: str = "INFO"
    # A send later than this after its due instant counts as a catch-up send in /metrics.
    catch_up_send_after_seconds: int = Field(120, ge=0)
    # The cleanup job: how long finished ledger rows and job_runs are kept, how many rows one
    # statement deletes, and how long past its last chance a pending slot waits before it is
    # given up as failed ("window passed").
    cleanup_retention_days: int = Field(30, ge=1, le=3650)
    cleanup_job_runs_retention_days: int = Field(30, ge=1, le=3650)
    cleanup_batch_size: int = Field(1000, ge=1, le=100_000)
    cleanup_pending_margin_minutes: int = Field(60, ge=0, le=7 * 24 * 60)

    job_appointment_reminders_enabled: bool = True
    job_appointment_reminders_schedule: str = DEFAULT_SCHEDULES["appointment_reminders"]
    job_daily_digest_enabled: bool = True
    job_daily_digest_schedule: str = DEFAULT_SCHEDULES["daily_digest"]
    job_weekly_report_enabled: bool = True
    job_weekly_report_schedule: str = DEFAULT_SCHEDULES["weekly_report"]
    job_notes_reminders_enabled: bool = True
    job_notes_reminders_schedule: str = DEFAULT_SCHEDULES["notes_reminders"]
    job_task_due_reminders_enabled: bool = True
    job_task_due_reminders_schedule: str = DEFAULT_SCHEDULES["task_due_reminders"]
    job_task_reminders_enabled: bool = True
    job_task_reminders_schedule: str = DEFAULT_SCHEDULES["task_reminders"]
    job_overdue_scanner_enabled: bool = True
    job_overdue_scanner_schedule: str = DEFAULT_SCHEDULES["overdue_scanner"]
    job_recurring_tasks_enabled: bool = True
    job_recurring_tasks_schedule: str = DEFAULT_SCHEDULES["recurring_tasks"]
    job_cleanup_enabled: bool = True
    job_cleanup_schedule: str = DEFAULT_SCHEDULES["cleanup"]

    @field_validator(*(f"job_{job}_schedule" for job in JOB_NAMES), mode="after")
    @classmethod
    def _schedule_is_cron(cls, value: str) -> str:
        parse_cron(value)
        return value

    @field_validator("mail_from", mode="after")
    @classmethod
    def _single_line(cls, value: str) -> str:
        """The envelope sender goes on an SMTP command line too: the recipients' rule."""
        try:
            return check_address(value)
        except BadAddressError:
            raise ValueError("must be one plain email address (local@domain)") from None

    @field_validator("public_base_url", mode="after")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        """An absolute http(s) URL in ASCII: it goes into headers (``List-Unsubscribe``)."""
        if value is None:
            return None
        if not value.isascii() or not _PLAIN_URL.fullmatch(value):
            raise ValueError("must be an absolute http:// or https:// URL in plain ASCII")
        return value.rstrip("/")

    @field_validator("secret_key", "admin_password", mode="after")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_LENGTH} characters")
        return value

    @field_validator("default_channels", mode="after")
    @classmethod
    def _known_channels(cls, value: str) -> str:
        unknown = set(_channel_list(value)) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown channel(s) {sorted(unknown)}; known: {list(CHANNELS)}")
        return value

    @field_validator("webhook_secret", mode="after")
    @classmethod
    def _standard_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """A secret the signing library can read, checked at start, never printed."""
        if value is not None:
            try:
                Webhook(value.get_secret_value())
            except Exception:
                raise ValueError("must be whsec_ followed by base64") from None
        return value

    def channels_by_default(self) -> frozenset[str]:
        """``DEFAULT_CHANNELS`` as a set."""
        return _channel_set(self.default_channels)

    def job_enabled(self, job: str) -> bool:
        """Whether ``JOB_<NAME>_ENABLED`` switches this job on."""
        return bool(getattr(self, f"job_{job}_enabled"))

    def job_schedule(self, job: str) -> str:
        """The five-field UTC cron expression of ``JOB_<NAME>_SCHEDULE``."""
        return str(getattr(self, f"job_{job}_schedule"))

    def async_database_url(self) -> str:
        """The URL with an async driver, so operators may write a plain ``postgresql://`` URL."""
        return to_async_url(self.database_url.get_secret_value())


def _channel_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@lru_cache(maxsize=8)
def _channel_set(value: str) -> frozenset[str]:
    """Parsed once per value: planning asks for every row."""
    return frozenset(_channel_list(value))


def to_async_url(url: str) -> str:
    """Maps the driver-less URL spellings people write onto the async drivers we ship."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


SECRETS_DIR_VARIABLE = "NOTIFIER_SECRETS_DIR"
DEFAULT_SECRETS_DIR = "/run/secrets"


def settings_from_environment() -> Settings:
    """The settings of a process: from its environment and, for values a container mounts as
    files (``/run/secrets/database_url``, ``smtp_password``, …, one file per variable, named
    in either case), from that folder (``NOTIFIER_SECRETS_DIR``). A file keeps a secret out of
    the container's configuration, which ``docker inspect`` shows; a variable wins over a file.
    """
    folder = os.environ.get(SECRETS_DIR_VARIABLE, DEFAULT_SECRETS_DIR)
    return Settings(_secrets_dir=folder if os.path.isdir(folder) else None)
