"""Email (contract section 6): MIME bytes from the kind's templates, over the SMTP pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.channels.base import Delivery, Rendered
from notifier.content.mime import OutgoingMessage, build_message, slot_message_id
from notifier.content.render import render
from notifier.delivery.ledger import SlotKey
from notifier.delivery.smtp import SmtpPool
from notifier.rules.kinds import EMAIL


class EmailChannel:
    """Renders a multipart message and sends it; nothing extra to record."""

    name = EMAIL
    in_transaction = False

    def __init__(
        self, mail_from: str, templates: Environment, smtp: SmtpPool, clock: Callable[[], datetime]
    ) -> None:
        self._from = mail_from
        self._domain = mail_from.rsplit("@", 1)[1]
        self._templates = templates
        self._smtp = smtp
        self._clock = clock

    def ident(self, key: SlotKey) -> str:
        """The Message-ID, derived from the slot's key as before channels existed."""
        return slot_message_id(key.kind, key.entity_id, key.user_id, key.slot, self._domain)

    def render(self, delivery: Delivery, ident: str) -> bytes:
        content = render(self._templates, delivery.key.kind, delivery.context)
        message = OutgoingMessage(
            from_addr=self._from,
            to_addr=delivery.address or "",
            subject=content.subject,
            text=content.text,
            html=content.html,
            message_id=ident,
            kind=delivery.key.kind,
            date=self._clock(),
        )
        return build_message(message)

    async def transmit(self, delivery: Delivery, rendered: Rendered) -> None:
        await self._smtp.send(self._from, delivery.address or "", rendered.payload)

    async def record(self, conn: AsyncConnection, sent: Sequence[Rendered], now: datetime) -> None:
        return None
