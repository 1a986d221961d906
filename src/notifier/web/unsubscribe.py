"""``/unsubscribe/{token}``: one-click unsubscribe (RFC 8058, contract section 10).

``GET`` shows what the link turns off and a button, and changes nothing: mail scanners and
link previews follow links. ``POST`` with the form body ``List-Unsubscribe=One-Click`` (what
a mailbox provider sends, and what the button sends) turns the kind off on email for the
token's user and answers 200 at once. The token is checked by its signature alone
(``content.unsubscribe``); a bad one answers 400 and touches nothing, a deleted user's 404.
Logs carry the outcome and the kind, never the token or the user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.content.unsubscribe import BadTokenError, Unsubscribe, read_token
from notifier.rules.kinds import BY_NAME
from notifier.services.unsubscribe import Unsubscribed, turn_email_off
from notifier.web.pages import confirm_page, done_page, refusal

log = structlog.get_logger("notifier.web")
ONE_CLICK = "One-Click"
SUBSCRIBED = frozenset(kind.name for kind in BY_NAME.values() if kind.subscribed)


@dataclass(frozen=True)
class UnsubscribeContext:
    """What the handlers need: the signing key (None: links are not configured here)."""

    engine: AsyncEngine
    secret: str | None
    settings_url: str
    clock: Callable[[], datetime]


CONTEXT = web.AppKey("unsubscribe", UnsubscribeContext)


def _request(request: web.Request) -> Unsubscribe | web.Response:
    """The token's request, or the page refusing it."""
    ctx = request.app[CONTEXT]
    if ctx.secret is None:
        return refusal(404, "Unsubscribe links are not set up on this server.")
    try:
        return read_token(ctx.secret, request.match_info["token"], SUBSCRIBED)
    except BadTokenError:
        log.info("unsubscribe_refused", reason="bad token")
        return refusal(400, "This unsubscribe link is not valid.")


async def show(request: web.Request) -> web.Response:
    found = _request(request)
    if isinstance(found, web.Response):
        return found
    return confirm_page(BY_NAME[found.kind].label)


async def confirm(request: web.Request) -> web.Response:
    found = _request(request)
    if isinstance(found, web.Response):
        return found
    form = await request.post()
    if form.get("List-Unsubscribe") != ONE_CLICK:
        return refusal(400, "Send List-Unsubscribe=One-Click to unsubscribe.")
    ctx = request.app[CONTEXT]
    outcome = await turn_email_off(ctx.engine, found.user_id, found.kind, ctx.clock())
    log.info("unsubscribe", kind=found.kind, outcome=outcome.value)
    if outcome is Unsubscribed.NO_SUCH_USER:
        return refusal(404, "This unsubscribe link no longer applies.")
    return done_page(BY_NAME[found.kind].label, ctx.settings_url)


def add_routes(app: web.Application, ctx: UnsubscribeContext) -> None:
    app[CONTEXT] = ctx
    app.router.add_get("/unsubscribe/{token}", show)
    app.router.add_post("/unsubscribe/{token}", confirm)
