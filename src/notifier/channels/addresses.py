"""Where each channel of a slot goes, checked at planning: bad data costs that channel alone.

An email needs a plain address (``content.mime.check_address``: failed otherwise); a webhook
needs the user's ``webhook_url`` (none: skipped, with the reason; not a usable URL: failed),
and a configured ``WEBHOOK_SECRET`` (none: skipped, as the operator has not set webhooks up);
an in-app row needs nothing. A channel this worker does not know is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.content.mime import check_address
from notifier.delivery.webhook import check_url
from notifier.rules.kinds import EMAIL, IN_APP, WEBHOOK


class NoAddressError(Exception):
    """The channel cannot be used for this user, through nobody's fault: recorded skipped."""


@dataclass(frozen=True)
class WebhookSetup:
    """What the worker's configuration allows for webhooks."""

    configured: bool  # WEBHOOK_SECRET is set
    allow_private: bool  # WEBHOOK_ALLOW_PRIVATE (development and tests only)


@dataclass(frozen=True)
class Addresses:
    """One recipient's addresses, raw from the fresh row."""

    email: str | None
    webhook_url: str | None

    def for_channel(self, channel: str, webhooks: WebhookSetup) -> str | None:
        """The checked address of ``channel`` (None for in-app); raises ``NoAddressError``
        (skip), ``BadAddressError`` or ``BadWebhookUrlError`` (fail)."""
        if channel == EMAIL:
            return check_address(self.email)
        if channel == IN_APP:
            return None
        if channel == WEBHOOK:
            return self._webhook(webhooks)
        raise NoAddressError(f"unknown channel {channel[:40]!r}")

    def _webhook(self, webhooks: WebhookSetup) -> str:
        if not webhooks.configured:
            raise NoAddressError("webhooks are not configured (WEBHOOK_SECRET)")
        if not self.webhook_url:
            raise NoAddressError("the user has no webhook_url")
        return check_url(self.webhook_url, allow_private=webhooks.allow_private)
