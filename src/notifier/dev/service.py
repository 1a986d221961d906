"""``notifier dev`` from start to Ctrl-C: stand-ins, migration, demo, banner, the real worker.

Order matters: the refusal check runs before anything is written; the webhook receiver (it
checks signatures with the run's secret) and the SMTP catcher listen before the settings are
built (they need the catcher's port), and the inbox as soon as the database URL is known, so a
port in use stops the run before the database is touched; the schema is migrated before
seeding (the seed needs the receiver's URL);
the banner is printed once everything answers. The worker loop is ``notifier worker``'s own
(restart on failure, graceful stop); SIGINT/SIGTERM end it and the exit stack closes the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from notifier.app import Services
from notifier.config import Settings
from notifier.db.engine import Schemas, engine_for
from notifier.db.migrate import upgrade_to_head
from notifier.dev.banner import BannerFacts, WebhookFacts, banner
from notifier.dev.demo_db import foreign_rows, replace_demo
from notifier.dev.fake_redis import FakeRedis, arq_on_fakeredis, open_fake_redis
from notifier.dev.in_app_feed import InAppFeed
from notifier.dev.inbox import inbox_app, start_inbox
from notifier.dev.runtime import DevStartError, dev_worker_settings, listen, open_dev_runtime
from notifier.dev.seed import Demo, ExpectedDelivery, build_demo
from notifier.dev.smtp_catcher import CaughtMessage, Mailbox, OnMessage, bound_port, start_catcher
from notifier.dev.standins import (
    DATABASE_FILE,
    Standins,
    choose_standins,
    dev_public_url,
    dev_secret_key,
    dev_settings,
    dev_webhooks,
)
from notifier.dev.webhook_catcher import (
    CaughtHook,
    HookBox,
    OnHook,
    hook_url,
    receiver_base,
    runner_port,
    start_receiver,
)
from notifier.process import run_until_stopped
from notifier.rules.kinds import JOB_KINDS
from notifier.web.app import build_app
from notifier.worker import enabled_jobs, utc_now

LOOPBACK = "127.0.0.1"
DEMO_HOOK_USER = "rangi"  # the path segment of the demo webhook user's URL
EXIT_CANNOT_START = 1
EXIT_REFUSED = 2


@dataclass(frozen=True)
class DevOptions:
    """The command line of ``notifier dev``."""

    data_dir: Path
    inbox_port: int
    smtp_port: int
    allow_existing_data: bool
    seed: bool


class RefusedError(DevStartError):
    """The database holds somebody's data; dev mode would take over its notifications."""


async def run_dev(options: DevOptions, settings: Settings) -> int:
    """Runs until SIGINT/SIGTERM: 0 after a clean stop, 2 when refusing, 1 when it cannot start."""
    stop = _stop_event()
    standins = choose_standins(settings)
    try:
        await _refuse_foreign_data(settings, standins, options)
        async with contextlib.AsyncExitStack() as stack:
            await _serve(stack, options, settings, standins, stop)
    except DevStartError as exc:
        print(f"notifier dev: {exc}", file=sys.stderr)
        return EXIT_REFUSED if isinstance(exc, RefusedError) else EXIT_CANNOT_START
    print("notifier dev stopped.", flush=True)
    return 0


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def refusal_message(found: dict[str, int]) -> str:
    rows = ", ".join(f"{table}: {count}" for table, count in found.items())
    return (
        "refusing to start: the database of DATABASE_URL holds data that is not the demo's "
        f"({rows}). A dev worker would claim those users' notifications and catch them in its "
        "inbox, so the real workers would never send them. Point DATABASE_URL at an empty "
        "database, unset it to use the SQLite stand-in, or pass --allow-existing-data."
    )


async def _refuse_foreign_data(settings: Settings, standins: Standins, options: DevOptions) -> None:
    """Before anything is written: a real database must hold nothing but the demo."""
    if standins.database or options.allow_existing_data:
        return
    engine = engine_for(settings, pool_size=1)
    try:
        found = await foreign_rows(engine)
    except (SQLAlchemyError, OSError) as exc:
        reason = type(exc).__name__
        raise DevStartError(f"cannot read the database of DATABASE_URL ({reason})") from None
    finally:
        await engine.dispose()
    if found:
        raise RefusedError(refusal_message(found))


def _say(line: str) -> None:
    """Prints one line; a closed stdout (piped into `head`, say) must not break a catcher."""
    with contextlib.suppress(OSError):
        print(line, flush=True)


def _announcer(inbox_url: str) -> OnMessage:
    """Prints a line per caught message: number, kind and link, never its content."""

    def announce(caught: CaughtMessage) -> None:
        at = caught.received_at.strftime("%H:%M:%S")
        _say(f"{at} UTC  caught #{caught.id} {caught.kind}  {inbox_url}/messages/{caught.id}")

    return announce


def _hook_announcer(inbox: str | None) -> OnHook:
    """Prints a line per webhook post: number, kind, verdict and link, never its content."""

    def announce(caught: CaughtHook) -> None:
        at = caught.received_at.strftime("%H:%M:%S")
        verdict = "signature verified" if caught.verified else "signature NOT verified"
        link = f"  {inbox}/webhooks" if inbox else ""
        _say(f"{at} UTC  webhook #{caught.id} {caught.field('kind')}  {verdict}{link}")

    return announce


def inbox_url(options: DevOptions) -> str:
    return f"http://localhost:{options.inbox_port}"


async def _start_catcher(
    stack: contextlib.AsyncExitStack, options: DevOptions
) -> tuple[Mailbox, int]:
    """The SMTP catcher; returns its mailbox and port."""
    mailbox = Mailbox(on_message=_announcer(inbox_url(options)))
    starting = start_catcher(mailbox, LOOPBACK, options.smtp_port)
    catcher = await listen("SMTP stand-in (use --smtp-port)", options.smtp_port, starting)
    stack.callback(catcher.close)
    return mailbox, bound_port(catcher)


async def _start_hooks(
    stack: contextlib.AsyncExitStack, settings: Settings, inbox: str | None
) -> tuple[HookBox, int]:
    """The webhook receiver on a free loopback port, checking with the run's secret."""
    assert settings.webhook_secret is not None, "dev_webhooks gives every run a secret"
    box = HookBox(settings.webhook_secret.get_secret_value(), on_hook=_hook_announcer(inbox))
    runner = await listen("webhook receiver", 0, start_receiver(box, LOOPBACK, 0))
    stack.push_async_callback(runner.cleanup)
    return box, runner_port(runner)


async def _start_inbox(
    stack: contextlib.AsyncExitStack,
    options: DevOptions,
    settings: Settings,
    mailbox: Mailbox,
    hooks: tuple[HookBox, int],
) -> None:
    """The web inbox: caught mail, the receiver's posts and the demo's in-app rows.

    The in-app page reads through an engine of its own (one connection), so a page load never
    waits for the worker's pool; it connects on first use, after the schema is migrated.
    """
    engine = engine_for(settings, pool_size=1)
    stack.push_async_callback(engine.dispose)
    receiver = receiver_base(hooks[1])
    app = inbox_app(mailbox, hooks[0], InAppFeed(engine), receiver)
    starting = start_inbox(app, LOOPBACK, options.inbox_port)
    runner = await listen("inbox (use --inbox-port)", options.inbox_port, starting)
    stack.push_async_callback(runner.cleanup)


async def _start_web(stack: contextlib.AsyncExitStack, settings: Settings) -> Settings:
    """``notifier web``'s pages on a free loopback port, so the demo's unsubscribe links work;
    returns ``settings`` with the run's key and the pages' address."""
    settings = dev_secret_key(settings)
    runner = web.AppRunner(build_app(settings, utc_now), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await listen("unsubscribe pages", 0, web.TCPSite(runner, LOOPBACK, 0).start())
    return dev_public_url(settings, runner_port(runner))


def _prepare_database(settings: Settings, standins: Standins, data_dir: Path) -> None:
    """Creates the stand-in's folder (ignored by git) and brings the schema to head."""
    if standins.database:
        data_dir.mkdir(parents=True, exist_ok=True)
        ignore = data_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# notifier dev's SQLite stand-in\n*\n")
    upgrade_to_head(settings.database_url.get_secret_value(), Schemas.of(settings))


async def _seed(services: Services, options: DevOptions, webhook_url: str) -> Demo | None:
    if not options.seed:
        return None
    demo = build_demo(utc_now(), webhook_url)
    await replace_demo(services.engine, demo)
    return demo


def _expected(demo: Demo | None, jobs: list[str]) -> list[ExpectedDelivery]:
    """The demo's deliveries from the jobs that run in this build and configuration."""
    if demo is None:
        return []
    return [mail for mail in demo.expected if mail.job in jobs and JOB_KINDS.get(mail.job)]


def _facts(
    settings: Settings,
    standins: Standins,
    options: DevOptions,
    demo: Demo | None,
    webhooks: WebhookFacts,
) -> BannerFacts:
    jobs = enabled_jobs(settings)
    return BannerFacts(
        standins=standins,
        inbox_url=inbox_url(options) if standins.smtp else None,
        catcher=f"{LOOPBACK}:{settings.smtp_port}",
        health_url=f"http://{settings.health_host}:{settings.health_port}/health",
        database=_database_label(settings, standins, options),
        smtp_relay=f"{settings.smtp_host}:{settings.smtp_port}",
        jobs=jobs,
        demo=demo,
        expected=_expected(demo, jobs),
        webhooks=webhooks,
    )


def _database_label(settings: Settings, standins: Standins, options: DevOptions) -> str:
    if standins.database:
        return str((options.data_dir / DATABASE_FILE).resolve())
    return settings.database_url.get_secret_value().split(":", 1)[0]


async def _serve(
    stack: contextlib.AsyncExitStack,
    options: DevOptions,
    settings: Settings,
    standins: Standins,
    stop: asyncio.Event,
) -> None:
    generated = settings.webhook_secret is None
    settings = dev_webhooks(settings)
    inbox = inbox_url(options) if standins.smtp else None
    hooks = await _start_hooks(stack, settings, inbox)
    mail = await _start_catcher(stack, options) if standins.smtp else None
    catcher_port = mail[1] if mail is not None else None
    settings = dev_settings(
        settings, standins, data_dir=options.data_dir, catcher_port=catcher_port
    )
    settings = await _start_web(stack, settings)
    if mail is not None:
        await _start_inbox(stack, options, settings, mail[0], hooks)
    await asyncio.to_thread(_prepare_database, settings, standins, options.data_dir)
    redis = open_fake_redis() if standins.redis else None
    services = await open_dev_runtime(stack, settings, redis)
    demo = await _seed(services, options, hook_url(hooks[1], DEMO_HOOK_USER))
    webhooks = WebhookFacts(receiver=receiver_base(hooks[1]), generated_secret=generated)
    facts = _facts(settings, standins, options, demo, webhooks)
    facts = dataclasses.replace(facts, unsubscribe_url=settings.public_base_url)
    print(banner(facts), flush=True)
    await _work(settings, services, redis, stop)


async def _work(
    settings: Settings, services: Services, redis: FakeRedis | None, stop: asyncio.Event
) -> None:
    """``notifier worker``'s loop until ``stop``: restarts on failure, drains on stop."""
    worker_settings = dev_worker_settings(settings, redis)
    patch = arq_on_fakeredis() if redis is not None else contextlib.nullcontext()
    with patch:
        await run_until_stopped(worker_settings, {"services": services}, stop)
