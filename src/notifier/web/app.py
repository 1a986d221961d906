"""The ``notifier web`` application: its routes, and the engine it opens and closes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime

from aiohttp import web

from notifier.config import Settings
from notifier.db.engine import engine_for
from notifier.web.admin import api as admin_api
from notifier.web.admin import pages as admin_pages
from notifier.web.admin.console import build_console
from notifier.web.unsubscribe import UnsubscribeContext, add_routes

# A one-click POST is a short form; nothing here takes more.
MAX_BODY_BYTES = 16 * 1024


def build_app(settings: Settings, clock: Callable[[], datetime]) -> web.Application:
    """The routes, with a database engine that lives as long as the application."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    engine = engine_for(settings, pool_size=5)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    settings_url = f"{settings.app_base_url.rstrip('/')}/settings/notifications"
    add_routes(app, UnsubscribeContext(engine, secret, settings_url, clock))
    _mount_console(app, settings, clock)

    async def dispose(_: web.Application) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app.cleanup_ctx.append(dispose)
    return app


def _mount_console(app: web.Application, settings: Settings, clock: Callable[[], datetime]) -> None:
    """The operator console under ``/admin``, only while ``ADMIN_PASSWORD`` is set (without
    it no ``/admin`` route exists: every such path answers 404)."""
    console = build_console(settings, clock)
    if console is None:
        return
    admin_api.add_routes(console)
    admin_pages.add_routes(console)

    async def to_console(_: web.Request) -> web.StreamResponse:
        raise web.HTTPSeeOther("/admin/")

    app.router.add_get("/admin", to_console)
    app.add_subapp("/admin", console)
