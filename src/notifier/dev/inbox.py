"""The web inbox of dev mode: caught emails (HTML, text, source), in-app feeds, webhook posts.

Like MailHog, on http://localhost:8025 by default. Safety, since the messages carry data
from the database: every page value is escaped (autoescaping templates); an email's HTML is
served on its own route with ``Content-Security-Policy: sandbox`` and shown in an iframe with
the ``sandbox`` attribute, so its scripts never run and it cannot reach the inbox; pages only
answer requests addressed to a loopback name, so a DNS-rebinding page cannot read them.
The in-app page reads the demo users' rows from the database on each request; the webhook page
shows what the local receiver caught.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from jinja2 import Environment
from sqlalchemy.exc import SQLAlchemyError

from notifier.dev.in_app_feed import InAppFeed, UserFeed
from notifier.dev.inbox_pages import CSS, DEV_LABEL, SCRIPT, page_environment
from notifier.dev.smtp_catcher import DEFAULT_LIMIT, CaughtMessage, Mailbox
from notifier.dev.webhook_catcher import CaughtHook, HookBox

PAGE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "frame-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# The email's own HTML: an opaque origin, no scripts, no requests, only inline styles.
BODY_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
VIEWS = (("html", "HTML"), ("text", "Text"), ("source", "Source"))
MAILBOX: web.AppKey[Mailbox] = web.AppKey("mailbox", Mailbox)
HOOKS: web.AppKey[HookBox] = web.AppKey("hooks", HookBox)
FEED: web.AppKey[InAppFeed] = web.AppKey("feed", InAppFeed)
RECEIVER: web.AppKey[str] = web.AppKey("receiver", str)
PAGES: web.AppKey[Environment] = web.AppKey("pages", Environment)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuses requests for any other host name (DNS rebinding), then adds safety headers."""
    if request.url.host not in LOOPBACK_NAMES:
        return web.Response(status=421, text="the dev inbox answers on localhost only")
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _render(
    request: web.Request, template: str, status: int = 200, **values: object
) -> web.Response:
    """A page; ``count``, ``api`` and ``section`` default to the email list's."""
    pages = request.app[PAGES]
    defaults = {"count": len(request.app[MAILBOX].all()), "api": "/api/messages"}
    page = {"label": DEV_LABEL, "section": "email", **defaults, **values}
    body = pages.get_template(template).render(**page)
    return web.Response(status=status, text=body, content_type="text/html")


def _message(request: web.Request) -> CaughtMessage:
    """The message named in the path, or a 404 page."""
    number = request.match_info["number"]
    found = request.app[MAILBOX].get(int(number)) if number.isdigit() else None
    if found is None:
        raise _not_found(request)
    return found


def _not_found(request: web.Request) -> web.HTTPNotFound:
    page = request.app[PAGES].get_template("404.html")
    body = page.render(label=DEV_LABEL, count=0, limit=DEFAULT_LIMIT)
    return web.HTTPNotFound(text=body, content_type="text/html")


async def list_page(request: web.Request) -> web.Response:
    newest_first = list(reversed(request.app[MAILBOX].all()))
    return _render(request, "list.html", messages=newest_first)


async def message_page(request: web.Request) -> web.Response:
    caught = _message(request)
    view = request.query.get("view", "html")
    view = view if view in dict(VIEWS) else "html"
    source = caught.raw.decode("utf-8", errors="replace")
    return _render(request, "message.html", m=caught, view=view, views=VIEWS, source=source)


async def html_body(request: web.Request) -> web.Response:
    """The email's HTML exactly as sent, locked in a sandbox by its own CSP."""
    response = web.Response(text=_message(request).html, content_type="text/html")
    response.headers["Content-Security-Policy"] = BODY_CSP
    return response


async def text_body(request: web.Request) -> web.Response:
    return web.Response(text=_message(request).text, content_type="text/plain")


async def api_list(request: web.Request) -> web.Response:
    messages = request.app[MAILBOX].all()
    body = {"mode": "dev", "count": len(messages), "messages": [m.summary() for m in messages]}
    return web.json_response(body)


async def api_message(request: web.Request) -> web.Response:
    caught = _message(request)
    return web.json_response({**caught.summary(), "text": caught.text, "html": caught.html})


def _hooks(request: web.Request) -> list[CaughtHook]:
    """The caught webhook posts, newest first (none when no receiver runs)."""
    box = request.app.get(HOOKS)
    return list(reversed(box.all())) if box is not None else []


async def webhooks_page(request: web.Request) -> web.Response:
    hooks = _hooks(request)
    receiver = request.app.get(RECEIVER, "")
    return _render(
        request,
        "webhooks.html",
        section="webhook",
        api="/api/webhooks",
        hooks=hooks,
        receiver=receiver,
        count=len(hooks),
    )


async def api_webhooks(request: web.Request) -> web.Response:
    box = request.app.get(HOOKS)
    posts = [hook.summary() for hook in box.all()] if box is not None else []
    return web.json_response({"mode": "dev", "count": len(posts), "posts": posts})


async def _feeds(request: web.Request) -> tuple[list[UserFeed], str | None]:
    """The demo users' feeds, or an error naming the exception class (never the URL)."""
    feed = request.app.get(FEED)
    if feed is None:
        return [], "no database is connected to this inbox"
    try:
        return await feed.feeds(), None
    except (SQLAlchemyError, OSError) as exc:
        return [], f"cannot read in_app_notifications ({type(exc).__name__})"


async def in_app_page(request: web.Request) -> web.Response:
    feeds, error = await _feeds(request)
    count = sum(len(feed.items) for feed in feeds)
    return _render(
        request,
        "in_app.html",
        section="in_app",
        api="/api/in-app",
        feeds=feeds,
        error=error,
        count=count,
    )


async def api_in_app(request: web.Request) -> web.Response:
    feeds, error = await _feeds(request)
    count = sum(len(feed.items) for feed in feeds)
    body = {"mode": "dev", "count": count, "error": error, "users": [f.summary() for f in feeds]}
    return web.json_response(body)


async def static_css(_request: web.Request) -> web.Response:
    return web.Response(text=CSS, content_type="text/css")


async def static_js(_request: web.Request) -> web.Response:
    return web.Response(text=SCRIPT, content_type="text/javascript")


def inbox_app(
    mailbox: Mailbox,
    hooks: HookBox | None = None,
    feed: InAppFeed | None = None,
    receiver: str = "",
) -> web.Application:
    """The inbox; without ``hooks`` or ``feed`` those pages say there is nothing to show."""
    app = web.Application(middlewares=[loopback_only])
    app[MAILBOX] = mailbox
    app[PAGES] = page_environment()
    if hooks is not None:
        app[HOOKS] = hooks
        app[RECEIVER] = receiver
    if feed is not None:
        app[FEED] = feed
    app.router.add_get("/", list_page)
    app.router.add_get("/messages/{number}", message_page)
    app.router.add_get("/messages/{number}/html", html_body)
    app.router.add_get("/messages/{number}/text", text_body)
    app.router.add_get("/api/messages", api_list)
    app.router.add_get("/api/messages/{number}", api_message)
    app.router.add_get("/in-app", in_app_page)
    app.router.add_get("/api/in-app", api_in_app)
    app.router.add_get("/webhooks", webhooks_page)
    app.router.add_get("/api/webhooks", api_webhooks)
    app.router.add_get("/static/inbox.css", static_css)
    app.router.add_get("/static/inbox.js", static_js)
    return app


async def start_inbox(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serves the inbox; the caller keeps the runner and calls ``cleanup()`` at the end."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
