"""The long-lived objects a worker or a CLI command needs, built at start and closed at exit.

Nothing here runs at import: ``open_services`` is called from arq's ``on_startup`` or from
the CLI, and ``close_services`` from ``on_shutdown``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.base import Channel
from notifier.channels.registry import build_channels, webhook_options
from notifier.config import Settings
from notifier.content.decoding import IDENTITY, Decoder, DecoderLoadError, load_decoder
from notifier.content.render import make_environment
from notifier.db.copy_state import CopyState
from notifier.db.engine import engine_for
from notifier.db.index_order import make_probe_engine
from notifier.delivery.smtp import SmtpOptions, SmtpPool
from notifier.delivery.webhook import WebhookClient
from notifier.observability.metrics import Metrics, make_metrics
from notifier.paths import templates_dir

Clock = Callable[[], datetime]


@dataclass
class Services:
    """What the service layer works with; passed explicitly, never global."""

    settings: Settings
    engine: AsyncEngine
    # The ticks' probes (selection reads): sessions that walk indexes in order
    # (``db.index_order``); the same engine as ``engine`` on SQLite.
    probes: AsyncEngine
    templates: Environment
    smtp: SmtpPool
    clock: Clock
    metrics: Metrics
    # Process-wide: SEND_WINDOW sends in flight or accepted but not yet recorded ``sent``,
    # whatever the number of ticks and batches running; the kill -9 duplicate bound.
    send_gate: asyncio.Semaphore
    # Webhook POSTs over pooled keep-alive connections (opened on first use).
    webhooks: WebhookClient
    # Every channel this process delivers on, by name (``channels.registry``).
    channels: Mapping[str, Channel]
    # Whether the local-time copy is current (``db.copy_state``).
    copy_state: CopyState = field(default_factory=CopyState)
    # The host's CONTENT_DECODER (contract section 12), loaded once here; identity when unset.
    decoder: Decoder = IDENTITY
    # One selection of a job at a time in this process, by job name (``jobs.fanout``).
    selecting: dict[str, asyncio.Lock] = field(default_factory=dict)


def smtp_options(settings: Settings) -> SmtpOptions:
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpOptions(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=password,
        starttls=settings.smtp_starttls,
        tls=settings.smtp_tls,
        timeout=settings.smtp_timeout_seconds,
        size=settings.smtp_pool_size,
    )


def open_services(settings: Settings, clock: Clock) -> Services:
    """Builds engine, templates, SMTP pool, webhook client and channels (connections open
    lazily), and loads the host's content decoder first: one that cannot be loaded stops the
    process at start with a plain message, before any tick could fail every slot with it."""
    decoder = open_decoder(settings)
    templates = make_environment(templates_dir())
    smtp = SmtpPool(smtp_options(settings))
    webhooks = WebhookClient(webhook_options(settings))
    engine = engine_for(settings, pool_size=settings.smtp_pool_size + 4)
    return Services(
        settings=settings,
        engine=engine,
        probes=make_probe_engine(settings, engine),
        templates=templates,
        smtp=smtp,
        clock=clock,
        metrics=make_metrics(),
        send_gate=asyncio.Semaphore(max(settings.send_window, settings.smtp_pool_size)),
        webhooks=webhooks,
        channels=build_channels(settings, templates, smtp, webhooks, clock),
        decoder=decoder,
    )


def open_decoder(settings: Settings) -> Decoder:
    """``CONTENT_DECODER`` imported, or ``SystemExit`` naming why not (no value, no
    traceback: the host's module may hold keys)."""
    try:
        return load_decoder(settings.content_decoder)
    except DecoderLoadError as exc:
        raise SystemExit(f"notifier: {exc}") from None


async def close_services(services: Services) -> None:
    """Closes SMTP and webhook connections and the database pool."""
    await services.smtp.close()
    await services.webhooks.close()
    await services.engine.dispose()
    await services.probes.dispose()
