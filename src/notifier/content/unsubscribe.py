"""One-click unsubscribe links (RFC 8058, contract section 10): signed, verified without a
database lookup.

A token carries the user's id and the kind, signed with ``SECRET_KEY`` by ``itsdangerous``
(HMAC-SHA1 over a URL-safe payload, Pallets' library behind Flask's sessions) rather than a
format of our own. Tokens do not expire: an unsubscribe link in a year-old email must still
work, and it can do no more than turn one kind's email off for its own user. A different
salt per purpose keeps a token signed for anything else from verifying here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "notifier.unsubscribe.v1"


class BadTokenError(ValueError):
    """Not a token this key signed, or not one naming a user and a known kind."""


@dataclass(frozen=True)
class Unsubscribe:
    """What a token asks for: this kind's email off for this user."""

    user_id: uuid.UUID
    kind: str


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def make_token(secret: str, user_id: uuid.UUID, kind: str) -> str:
    return str(_serializer(secret).dumps([str(user_id), kind]))


def read_token(secret: str, token: str, kinds: frozenset[str]) -> Unsubscribe:
    """The request a token carries; raises ``BadTokenError`` for anything else."""
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature:
        raise BadTokenError("the link is not valid") from None
    if not (isinstance(payload, list) and len(payload) == 2 and payload[1] in kinds):
        raise BadTokenError("the link is not valid")
    try:
        return Unsubscribe(uuid.UUID(str(payload[0])), str(payload[1]))
    except ValueError:
        raise BadTokenError("the link is not valid") from None


def unsubscribe_url(
    public_base_url: str | None, secret: str | None, user_id: uuid.UUID, kind: str
) -> str | None:
    """The link for one user and kind; None without both settings (then no header either)."""
    if not public_base_url or not secret:
        return None
    return f"{public_base_url}/unsubscribe/{make_token(secret, user_id, kind)}"
