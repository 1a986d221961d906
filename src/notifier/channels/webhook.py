"""Webhooks, the "chatbot alerts" (contract section 9): a signed JSON POST per slot.

The body carries ``text`` (one plain line that Slack and Mattermost show as it is) beside
the slot's fields and the short content; ``webhook-id`` is derived from the slot, so a
re-send carries the same id, and ``webhook-timestamp`` is the moment of each attempt. The
safety rules and the HTTP client live in ``delivery.webhook``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.channels.base import Delivery, Rendered
from notifier.content.render import Privacy, render_short
from notifier.delivery.ledger import SlotKey
from notifier.delivery.webhook import WebhookClient, signature_headers
from notifier.rules.kinds import WEBHOOK


class WebhookChannel:
    """Renders the JSON body as ``privacy`` (``CONTENT_PRIVACY``) allows; each attempt is
    signed at the moment it is made."""

    name = WEBHOOK
    in_transaction = False

    def __init__(
        self,
        secret: str,
        templates: Environment,
        client: WebhookClient,
        clock: Callable[[], datetime],
        privacy: Privacy,
    ) -> None:
        self._secret = secret
        self._privacy = privacy
        self._templates = templates
        self._client = client
        self._clock = clock

    def ident(self, key: SlotKey) -> str:
        """``msg_`` and a digest of the slot's key (the Standard Webhooks id)."""
        raw = f"{key.kind}|{key.entity_id}|{key.user_id}|{key.slot.isoformat()}".encode()
        return "msg_" + hashlib.sha256(raw).hexdigest()[:32]

    def render(self, delivery: Delivery, ident: str) -> bytes:
        key = delivery.key
        content = render_short(self._templates, key.kind, delivery.context, privacy=self._privacy)
        body = {
            "text": content.title,
            "kind": key.kind,
            "entity_id": str(key.entity_id),
            "user_id": str(key.user_id),
            "slot": key.slot.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "title": content.title,
            "body": content.body,
            "url": content.url,
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    async def transmit(self, delivery: Delivery, rendered: Rendered) -> None:
        headers = signature_headers(self._secret, rendered.ident, self._clock(), rendered.payload)
        await self._client.post(delivery.address or "", rendered.payload, headers)

    async def record(self, conn: AsyncConnection, sent: Sequence[Rendered], now: datetime) -> None:
        return None
