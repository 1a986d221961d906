"""The channels a process delivers on, built once at start from its configuration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from jinja2 import Environment

from notifier.channels.addresses import WebhookSetup
from notifier.channels.base import Channel
from notifier.channels.email import EmailChannel, EmailSetup
from notifier.channels.in_app import InAppChannel
from notifier.channels.webhook import WebhookChannel
from notifier.config import Settings
from notifier.delivery.smtp import SmtpPool
from notifier.delivery.webhook import WebhookClient, WebhookOptions


def webhook_options(settings: Settings) -> WebhookOptions:
    return WebhookOptions(
        timeout_seconds=settings.webhook_timeout_seconds,
        allow_private=settings.webhook_allow_private,
        pool_size=max(settings.send_window, settings.smtp_pool_size),
    )


def email_setup(settings: Settings) -> EmailSetup:
    """What an email's links, headers and content need of the configuration (the worker's
    channel and ``notifier preview`` both build it here, so they show the same)."""
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    return EmailSetup(
        settings.mail_from, settings.public_base_url, secret, privacy=settings.content_privacy
    )


def webhook_setup(settings: Settings) -> WebhookSetup:
    """What planning needs to know of the webhook configuration."""
    return WebhookSetup(settings.webhook_secret is not None, settings.webhook_allow_private)


def build_channels(
    settings: Settings,
    templates: Environment,
    smtp: SmtpPool,
    webhooks: WebhookClient,
    clock: Callable[[], datetime],
) -> Mapping[str, Channel]:
    """Every channel by name, each showing what ``CONTENT_PRIVACY`` allows; webhooks only with
    a secret to sign them with."""
    privacy = settings.content_privacy
    channels: dict[str, Channel] = {
        "email": EmailChannel(email_setup(settings), templates, smtp, clock),
        "in_app": InAppChannel(templates, privacy),
    }
    if settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value()
        channels["webhook"] = WebhookChannel(secret, templates, webhooks, clock, privacy)
    return channels
