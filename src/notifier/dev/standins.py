"""Which stand-ins a dev run uses, and the settings the real service code then runs with.

A stand-in is replaced by the real thing when its variable was given: ``DATABASE_URL``,
``REDIS_URL`` or ``SMTP_HOST`` (pydantic records which fields came from the environment, so
a variable set to its default value still counts as given). Webhooks always go to dev mode's
local receiver: ``dev_webhooks`` gives the run a secret and lets it post to loopback.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from notifier.config import Settings
from notifier.rules.kinds import JOB_NAMES

# In dev mode every job ticks every minute (cleanup stays daily), so each kind shows up
# within two minutes; a JOB_<NAME>_SCHEDULE that is set explicitly still wins.
DEV_SCHEDULE = "* * * * *"
DAILY_JOBS = frozenset({"cleanup"})
DATABASE_FILE = "notifier-dev.sqlite3"
# Keys of our own, so a dev worker on a shared real Redis never takes another worker's ticks.
DEV_QUEUE_NAME = "arq:notifier-dev:queue"
DEV_CRON_PREFIX = "notifier-dev:"


@dataclass(frozen=True)
class Standins:
    """True where the embedded stand-in is used."""

    database: bool
    redis: bool
    smtp: bool


def choose_standins(settings: Settings) -> Standins:
    given = settings.model_fields_set
    return Standins(
        database="database_url" not in given,
        redis="redis_url" not in given,
        smtp="smtp_host" not in given,
    )


def sqlite_url(data_dir: Path) -> str:
    """The stand-in database: one SQLite file in the data directory (absolute path)."""
    return f"sqlite+aiosqlite:///{(data_dir / DATABASE_FILE).resolve()}"


def _dev_schedules(settings: Settings) -> dict[str, Any]:
    given = settings.model_fields_set
    fields = (f"job_{job}_schedule" for job in JOB_NAMES if job not in DAILY_JOBS)
    return {name: DEV_SCHEDULE for name in fields if name not in given}


def _smtp_catcher(port: int) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_username": None,
        "smtp_password": None,
        "smtp_starttls": False,
        "smtp_tls": False,
    }


def dev_settings(
    settings: Settings, standins: Standins, *, data_dir: Path, catcher_port: int | None
) -> Settings:
    """``settings`` pointed at the stand-ins in use, with dev schedules."""
    update = _dev_schedules(settings)
    if standins.database:
        update["database_url"] = SecretStr(sqlite_url(data_dir))
    if standins.smtp:
        assert catcher_port is not None, "the SMTP catcher must be listening first"
        update.update(_smtp_catcher(catcher_port))
    return settings.model_copy(update=update)


def dev_secret_key(settings: Settings) -> Settings:
    """A ``SECRET_KEY`` made for this run unless one is set, so the demo's emails carry
    unsubscribe links that this run's pages accept (never written down)."""
    if settings.secret_key is not None:
        return settings
    return settings.model_copy(update={"secret_key": SecretStr(secrets.token_urlsafe(32))})


def dev_public_url(settings: Settings, web_port: int) -> Settings:
    """The unsubscribe pages' loopback address as ``PUBLIC_BASE_URL``, unless one is set."""
    if settings.public_base_url is not None:
        return settings
    return settings.model_copy(update={"public_base_url": f"http://localhost:{web_port}"})


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret (``whsec_`` + base64 of 32 random bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def dev_webhooks(settings: Settings) -> Settings:
    """``settings`` able to post to the local receiver, for this dev run only.

    A ``WEBHOOK_SECRET`` that is set is kept (a developer may verify with it elsewhere);
    otherwise the run makes its own, so webhooks work with nothing configured and no secret is
    ever written down. ``webhook_allow_private`` is lifted here, never in ``Settings``: the
    receiver is an ``http`` loopback address, which production must refuse.
    """
    update: dict[str, Any] = {"webhook_allow_private": True}
    if settings.webhook_secret is None:
        update["webhook_secret"] = SecretStr(new_webhook_secret())
    return settings.model_copy(update=update)
