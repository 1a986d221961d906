"""Email (contract section 6): MIME bytes from the kind's templates, over the SMTP pool.

Beside the contract's headers every email carries those of section 10 (``Auto-Submitted``,
``Feedback-ID``; subscribed kinds ``List-Id`` and one-click unsubscribe), and the templates
get ``unsubscribe_url`` for the visible link (None where there is none) and ``privacy``, the
``CONTENT_PRIVACY`` mode (section 10) the setup carries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.channels.base import Delivery, Rendered
from notifier.content.mime import OutgoingMessage, build_message, email_headers, slot_message_id
from notifier.content.render import Privacy, RenderedContent, render
from notifier.content.unsubscribe import unsubscribe_url
from notifier.delivery.ledger import SlotKey
from notifier.delivery.smtp import SmtpPool
from notifier.rules.kinds import BY_NAME, EMAIL, KIND_LANES


@dataclass(frozen=True)
class EmailSetup:
    """The settings an email's links, headers and content need.

    ``privacy`` has no default: an email set up without saying what it may show would show
    everything.
    """

    mail_from: str
    public_base_url: str | None = None
    secret_key: str | None = None
    privacy: Privacy = field(kw_only=True)

    @property
    def domain(self) -> str:
        return self.mail_from.rsplit("@", 1)[1]


@dataclass(frozen=True)
class EmailParts:
    """The rendered parts of one email and the section 10 headers that go with them."""

    content: RenderedContent
    headers: tuple[tuple[str, str], ...]


def email_parts(
    setup: EmailSetup, templates: Environment, key: SlotKey, context: Mapping[str, object]
) -> EmailParts:
    """The kind's templates rendered for the slot's user in the setup's privacy mode, with its
    unsubscribe link where the kind is subscribed mail (``notifier preview`` shows the same)."""
    kind = BY_NAME.get(key.kind)
    subscribed = kind is not None and kind.subscribed
    url = unsubscribe_url(setup.public_base_url, setup.secret_key, key.user_id, key.kind)
    link = url if subscribed else None
    content = render(templates, key.kind, {**context, "unsubscribe_url": link}, setup.privacy)
    label = kind.label if kind is not None else key.kind
    headers = email_headers(key.kind, label, setup.domain, link, subscribed)
    return EmailParts(content, headers)


class EmailChannel:
    """Renders a multipart message and sends it; nothing extra to record."""

    name = EMAIL
    in_transaction = False

    def __init__(
        self,
        setup: EmailSetup,
        templates: Environment,
        smtp: SmtpPool,
        clock: Callable[[], datetime],
    ) -> None:
        self._setup = setup
        self._from = setup.mail_from
        self._domain = setup.domain
        self._templates = templates
        self._smtp = smtp
        self._clock = clock

    def ident(self, key: SlotKey) -> str:
        """The Message-ID, derived from the slot's key as before channels existed."""
        return slot_message_id(key.kind, key.entity_id, key.user_id, key.slot, self._domain)

    def render(self, delivery: Delivery, ident: str) -> bytes:
        parts = email_parts(self._setup, self._templates, delivery.key, delivery.context)
        content = parts.content
        message = OutgoingMessage(
            from_addr=self._from,
            to_addr=delivery.address or "",
            subject=content.subject,
            text=content.text,
            html=content.html,
            message_id=ident,
            kind=delivery.key.kind,
            date=self._clock(),
            extra_headers=parts.headers,
        )
        return build_message(message)

    async def transmit(self, delivery: Delivery, rendered: Rendered) -> None:
        """Sends over the pool; the kind's lane orders it in the relay's rate limit."""
        lane = KIND_LANES.get(delivery.key.kind, 2)
        await self._smtp.send(self._from, delivery.address or "", rendered.payload, lane)

    async def record(self, conn: AsyncConnection, sent: Sequence[Rendered], now: datetime) -> None:
        return None
