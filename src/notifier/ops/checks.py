"""``notifier check``: the configuration, then PostgreSQL, Redis and SMTP, each said plainly.

Each check returns one line: ``ok``, ``warn`` (works, but not as production wants it) or
``FAIL``. Secrets never appear: locations are printed as host, port and database only, and
every message is scrubbed of the configured passwords before it is shown, since drivers
sometimes echo a URL or a server's reply.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from notifier.app import smtp_options
from notifier.config import Settings
from notifier.content.decoding import DecoderLoadError, load_decoder
from notifier.db.engine import engine_for
from notifier.db.host_relations import host_problems, privilege_problems
from notifier.db.migrate import alembic_config
from notifier.db.pooler_detection import SHARED_SESSIONS, session_settings_would_leak
from notifier.delivery.smtp import SmtpPool
from notifier.rules.kinds import JOB_NAMES, KINDS
from notifier.timemath.cron import longest_gap, parse_cron
from notifier.timemath.tz_database import current_tz_database

CHECK_TIMEOUT_SECONDS = 10.0
OK, WARN, FAIL = "ok", "warn", "FAIL"
# Jobs whose notifications are lost when ticks are further apart than their window.


@dataclass(frozen=True)
class CheckResult:
    """One line of the report."""

    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<13}  {self.detail}"


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the configuration holds, to be scrubbed from any message."""
    found = [_url_password(settings.database_url), _url_password(settings.redis_url)]
    if settings.smtp_password is not None:
        found.append(settings.smtp_password.get_secret_value())
    return [s for s in found if s]


def _url_password(url: SecretStr) -> str | None:
    try:
        return urlsplit(url.get_secret_value()).password
    except ValueError:  # not a URL at all: the connection check will say so
        return None


def scrub(message: str, secrets: Iterable[str]) -> str:
    """``message`` with every secret replaced by ``***``."""
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


def describe_error(exc: BaseException, secrets: Iterable[str]) -> str:
    """``TypeName: first line of the message``, scrubbed."""
    first = str(exc).strip().split("\n", 1)[0][:300]
    text_ = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return scrub(text_, secrets)


def config_problems(settings: Settings, now: datetime) -> tuple[list[str], list[str]]:
    """``(failures, warnings)`` the settings' own validation cannot see."""
    failures, warnings = [], []
    if bool(settings.smtp_username) != (settings.smtp_password is not None):
        failures.append("set both SMTP_USERNAME and SMTP_PASSWORD, or neither")
    if settings.smtp_tls and settings.smtp_starttls:
        failures.append("set only one of SMTP_TLS and SMTP_STARTTLS")
    failures += list(schedule_problems(settings, now))
    if not any(settings.job_enabled(job) for job in JOB_NAMES):
        warnings.append("every job is disabled (JOB_<NAME>_ENABLED): this worker sends nothing")
    if not settings.app_base_url.startswith(("https://", "http://")):
        warnings.append("APP_BASE_URL should start with https:// (links in emails)")
    warnings += webhook_warnings(settings)
    warnings += unsubscribe_warnings(settings)
    return failures, warnings


def unsubscribe_warnings(settings: Settings) -> list[str]:
    """What keeps subscribed mail (digest, weekly report, notes reminder) from carrying a
    working one-click unsubscribe (contract section 10); names settings, never their values."""
    warnings = []
    missing = [
        name
        for name, value in (
            ("SECRET_KEY", settings.secret_key),
            ("PUBLIC_BASE_URL", settings.public_base_url),
        )
        if value is None
    ]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        warnings.append(
            f"{' and '.join(missing)} {verb} unset: digest, weekly report and notes reminder "
            "emails carry no one-click unsubscribe (List-Unsubscribe)"
        )
    url = settings.public_base_url
    if url is not None and not url.startswith("https://") and not _local(url):
        warnings.append(
            "PUBLIC_BASE_URL should start with https:// (unsubscribe links in emails; plain "
            "http only for a local host in development)"
        )
    return warnings


def _local(url: str) -> bool:
    """A URL on this machine: a developer's (``notifier dev``, the tests), not production."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_warnings(settings: Settings) -> list[str]:
    """Webhook settings that are valid but likely a mistake in production."""
    warnings = []
    if settings.webhook_secret is None and "webhook" in settings.channels_by_default():
        warnings.append(
            "DEFAULT_CHANNELS names webhook but WEBHOOK_SECRET is unset: webhooks are skipped"
        )
    if settings.webhook_allow_private:
        warnings.append(
            "WEBHOOK_ALLOW_PRIVATE=true lets webhooks reach private addresses: development only"
        )
    return warnings


def schedule_problems(settings: Settings, now: datetime) -> Iterable[str]:
    """Enabled windowed jobs whose ticks are further apart than the window they own."""
    catch_up = timedelta(minutes=settings.catch_up_minutes)
    windows = {kind.job: kind.window.at(catch_up) for kind in KINDS if kind.window is not None}
    for job, window in windows.items():
        if not settings.job_enabled(job):
            continue
        gap = longest_gap(parse_cron(settings.job_schedule(job)), now)
        if gap > window:
            yield (
                f"JOB_{job.upper()}_SCHEDULE leaves {_minutes(gap)} between ticks but a tick "
                f"only sends what fell due in the last {_minutes(window)}: raise "
                "CATCH_UP_MINUTES or run the job more often"
            )


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"


def check_configuration(settings: Settings, now: datetime) -> CheckResult:
    failures, warnings = config_problems(settings, now)
    enabled = sum(settings.job_enabled(job) for job in JOB_NAMES)
    if failures:
        return CheckResult("configuration", FAIL, "; ".join(failures))
    summary = (
        f"{enabled} of {len(JOB_NAMES)} jobs enabled, catch-up {settings.catch_up_minutes} min"
    )
    if warnings:
        return CheckResult("configuration", WARN, "; ".join([*warnings, summary]))
    return CheckResult("configuration", OK, summary)


def check_tz_database() -> CheckResult:
    """Which tz database this process computes local times with (TZ_DATABASE), and its release:
    workers that disagree on it disagree on instants."""
    return CheckResult("tz_database", OK, current_tz_database().describe())


def check_content_decoder(settings: Settings) -> CheckResult:
    """Whether ``CONTENT_DECODER`` imports as the worker will import it at start; the reason
    names the module, never a value (an import-time exception by its type alone)."""
    try:
        decoder = load_decoder(settings.content_decoder)
    except DecoderLoadError as exc:
        return CheckResult("decoder", FAIL, scrub(str(exc), secrets_of(settings)))
    if decoder.spec is None:
        return CheckResult("decoder", OK, "CONTENT_DECODER unset: values are used as stored")
    return CheckResult("decoder", OK, f"CONTENT_DECODER {decoder.spec} loads")


def database_location(settings: Settings) -> str:
    url = make_url(settings.async_database_url())
    if url.drivername.startswith("sqlite"):
        return f"sqlite file {url.database}"
    return f"{url.host}:{url.port or 5432}/{url.database}"


def _revisions(connection: Connection, settings: Settings) -> tuple[set[str], set[str]]:
    opts = {"version_table_schema": settings.notifier_schema}
    if connection.dialect.name != "postgresql":
        opts = {}
    current = set(MigrationContext.configure(connection, opts=opts).get_current_heads())
    url = settings.database_url.get_secret_value()
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    return current, heads


async def check_database(settings: Settings) -> CheckResult:
    """Connects, runs a query, and compares the schema's revision with this version's head."""
    engine = engine_for(settings, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            current, heads = await conn.run_sync(_revisions, settings)
    finally:
        await engine.dispose()
    where = database_location(settings)
    if current != heads:
        found = f"schema at {', '.join(sorted(current))}" if current else "no notifier schema"
        wanted = wanted_of(heads)
        detail = f"{where}: {found}, this version needs {wanted}: run notifier migrate"
        return CheckResult("postgresql", FAIL, detail)
    if await session_settings_would_leak(settings):
        return CheckResult("postgresql", FAIL, f"{where}: {SHARED_SESSIONS}")
    detail = f"{where}: reachable, schema at head ({wanted_of(heads)})"
    return CheckResult("postgresql", OK, detail + POOLING_NOTES[settings.database_pooling])


# What ``check_database`` adds for each DATABASE_POOLING (runbook, "Behind a connection pooler").
POOLING_NOTES = {
    "session": "",
    "transaction": "; through a transaction-mode pooler: nothing kept in a session, "
    "notifier migrate needs PostgreSQL's own address",
}


def wanted_of(heads: set[str]) -> str:
    return ", ".join(sorted(heads))


def redis_location(settings: Settings) -> str:
    parts = urlsplit(settings.redis_url.get_secret_value())
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


TASK_JOBS = ("task_due_reminders", "task_reminders", "overdue_scanner", "recurring_tasks")


async def check_host_relations(settings: Settings) -> CheckResult:
    """The host's relations in ``HOST_SCHEMA`` (section 12): every column the worker reads,
    with a compatible type; SELECT on each; the worker's schema owned by this role."""
    engine = engine_for(settings, pool_size=1)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name != "postgresql":
                return CheckResult("host", OK, "SQLite: the host's tables are the worker's")
            failures = await host_problems(conn)
            task_jobs = any(settings.job_enabled(job) for job in TASK_JOBS)
            denied, warnings = await privilege_problems(conn, task_jobs=task_jobs)
    finally:
        await engine.dispose()
    if failures or denied:
        return CheckResult("host", FAIL, "; ".join([*failures, *denied]))
    where = f"{settings.host_schema} (host), {settings.notifier_schema} (worker)"
    if warnings:
        return CheckResult("host", WARN, f"{where}: " + "; ".join(warnings))
    return CheckResult("host", OK, f"{where}: every column the worker reads, readable")


async def check_redis(settings: Settings) -> CheckResult:
    """PING, then the persistence and eviction settings arq's queue wants (when readable)."""
    client: Redis = Redis.from_url(
        settings.redis_url.get_secret_value(), socket_timeout=5, socket_connect_timeout=5
    )
    try:
        await client.ping()
        advice = await _redis_advice(client)
    finally:
        await client.aclose()
    where = redis_location(settings)
    if advice:
        return CheckResult("redis", WARN, f"{where}: reachable; " + "; ".join(advice))
    return CheckResult("redis", OK, f"{where}: reachable")


async def _redis_advice(client: Redis) -> list[str]:
    try:
        config: dict[Any, Any] = await client.config_get("maxmemory-policy")
        config.update(await client.config_get("appendonly"))
    except Exception:  # managed Redis often refuses CONFIG: nothing to advise then
        return []
    advice = []
    policy = _text(config.get(b"maxmemory-policy", config.get("maxmemory-policy")))
    if policy and policy != "noeviction":
        advice.append(f"maxmemory-policy is {policy}, want noeviction (queued jobs may be evicted)")
    if _text(config.get(b"appendonly", config.get("appendonly"))) == "no":
        advice.append("appendonly is off: queued jobs are lost when Redis restarts")
    return advice


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def smtp_location(settings: Settings) -> str:
    security = "TLS" if settings.smtp_tls else "STARTTLS" if settings.smtp_starttls else "plain"
    login = "with login" if settings.smtp_username else "no login"
    return f"{settings.smtp_host}:{settings.smtp_port} ({security}, {login})"


async def check_smtp(settings: Settings) -> CheckResult:
    """Connects, upgrades to TLS and logs in exactly as a send would, then says NOOP."""
    pool = SmtpPool(smtp_options(settings.model_copy(update={"smtp_pool_size": 1})))
    try:
        await pool.verify()
    finally:
        await pool.close()
    return CheckResult("smtp", OK, f"{smtp_location(settings)}: connected")


Probe = Callable[[Settings], Awaitable[CheckResult]]
PROBES: tuple[tuple[str, Probe, Callable[[Settings], str]], ...] = (
    ("postgresql", check_database, database_location),
    ("redis", check_redis, redis_location),
    ("smtp", check_smtp, smtp_location),
)


async def run_probe(name: str, probe: Probe, where: str, settings: Settings) -> CheckResult:
    """One connection check with a deadline; any failure becomes a plain, scrubbed line."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            return await probe(settings)
    except TimeoutError:
        return CheckResult(name, FAIL, f"{where}: no answer within {CHECK_TIMEOUT_SECONDS:g} s")
    except Exception as exc:  # the point is to report whatever went wrong
        return CheckResult(name, FAIL, f"{where}: {describe_error(exc, secrets_of(settings))}")


async def run_checks(settings: Settings, now: datetime) -> list[CheckResult]:
    """Every check, in a fixed order."""
    results = [check_configuration(settings, now), check_tz_database()]
    results.append(check_content_decoder(settings))
    for name, probe, where in PROBES:
        results.append(
            await run_probe(name, probe, scrub(where(settings), secrets_of(settings)), settings)
        )
        if name == "postgresql" and results[-1].status == OK:
            # The host's relations, once the database answers at this version's schema.
            where_db = scrub(database_location(settings), secrets_of(settings))
            results.append(await run_probe("host", check_host_relations, where_db, settings))
    return results
