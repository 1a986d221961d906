"""The operator console as an aiohttp sub-application under ``/admin`` (contract section 11).

Mounted only while ``ADMIN_PASSWORD`` is set: without it no ``/admin`` route exists and
every such path answers 404. Two middlewares wrap every console response: the gate (API
bearer, page session, CSRF on every POST; ``auth``) and the security headers (a CSP with
no script at all, no framing, no Referer, no caching).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog
from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape
from redis.asyncio import Redis

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.ops.deliveries import Tally
from notifier.web.admin.auth import COOKIE, Session, Sessions, Throttle, bearer, same_password

log = structlog.get_logger("notifier.console")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
OPEN_PATHS = ("/admin/login", "/admin/static/")


@dataclass
class Console:
    """What the console's handlers share; ``services`` and ``redis`` open with the app."""

    settings: Settings
    password: str
    sessions: Sessions
    clock: Callable[[], datetime]
    templates: Environment
    secure_cookie: bool
    throttle: Throttle = field(default_factory=Throttle)
    started: datetime | None = None
    services: Services | None = None
    redis: Redis | None = None
    # The overview's 24-hour tallies: (the instant they were counted up to, the tallies).
    tallies: tuple[datetime, list[Tally]] | None = None
    tallies_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def live(self) -> Services:
        assert self.services is not None, "the console's services open with the application"
        return self.services


CONSOLE = web.AppKey("console", Console)


def console_of(request: web.Request) -> Console:
    return request.config_dict[CONSOLE]


def session_of(request: web.Request) -> Session:
    found: Session = request["session"]
    return found


def make_templates() -> Environment:
    """Jinja with autoescaping on for every template: each value is escaped."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M:%SZ") if v else ""
    env.filters["iso"] = short_iso
    return env


def short_iso(value: object) -> str:
    """An ISO 8601 UTC instant from ``/health``'s body, to the second (pure)."""
    if not isinstance(value, str) or len(value) < 19:
        return "" if value is None else str(value)
    return f"{value[:10]} {value[11:19]}Z"


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


def _json_error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _api_gate(request: web.Request) -> web.Response | None:
    """None when the bearer is the password; else the 401 (or 429 while locked out)."""
    console, address, now = console_of(request), client_address(request), time.monotonic()
    wait = console.throttle.wait(address, now)
    if wait > 0:
        return _json_error(429, "too many failed attempts", **{"Retry-After": f"{wait:.0f}"})
    token = bearer(request.headers.get("Authorization"))
    if token is not None and same_password(token, console.password):
        console.throttle.succeeded(address)
        return None
    if token is not None:
        console.throttle.failed(address, now)
    return _json_error(
        401,
        "Authorization: Bearer <ADMIN_PASSWORD> required",
        **{"WWW-Authenticate": 'Bearer realm="notifier"'},
    )


async def _page_gate(request: web.Request) -> web.StreamResponse | None:
    """None when the request may go on; else the redirect to sign in, or the CSRF refusal."""
    console = console_of(request)
    session = console.sessions.load(request.cookies.get(COOKIE))
    is_open = request.path.startswith(OPEN_PATHS)
    if not is_open and (session is None or not session.signed_in):
        raise web.HTTPSeeOther("/admin/login")
    request["session"] = session
    if request.method == "POST":
        form = await request.post()
        if session is None or not session.csrf_ok(form.get("csrf")):
            log.info("console_csrf_refused", path=request.path)
            return web.Response(
                status=403,
                text="Refused: the form's CSRF token is missing "
                "or stale. Reload the page and try again.",
            )
    return None


@web.middleware
async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    refusal: web.StreamResponse | None
    if request.path.startswith("/admin/api/"):
        refusal = _api_gate(request)
    else:
        refusal = await _page_gate(request)
    return refusal if refusal is not None else await handler(request)


def set_session(console: Console, response: web.StreamResponse, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        console.sessions.dump(session),
        path="/admin",
        httponly=True,
        samesite="Strict",
        secure=console.secure_cookie,
        max_age=None,
    )


def build_console(settings: Settings, clock: Callable[[], datetime]) -> web.Application | None:
    """The console's application, its routes not yet added (``web.app`` adds the pages' and
    the API's, which build on this module), or None without ``ADMIN_PASSWORD``."""
    if settings.admin_password is None:
        return None
    password = settings.admin_password.get_secret_value()
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    console = Console(
        settings=settings,
        password=password,
        sessions=Sessions(password, secret),
        clock=clock,
        templates=make_templates(),
        secure_cookie=(settings.public_base_url or "").lower().startswith("https://"),
    )
    admin = web.Application(middlewares=[security_headers, gate])
    admin[CONSOLE] = console
    admin.cleanup_ctx.append(_lifetime)
    return admin


async def _lifetime(admin: web.Application) -> AsyncIterator[None]:
    """Opens what re-sends and run-now need (SMTP pool, webhook client, engine) and Redis
    for the health verdict; closes them with the application."""
    console = admin[CONSOLE]
    console.started = console.clock()
    console.services = open_services(console.settings, console.clock)
    console.redis = Redis.from_url(console.settings.redis_url.get_secret_value())
    yield
    await close_services(console.services)
    await console.redis.aclose()
