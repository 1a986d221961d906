"""``notifier web``: the unsubscribe pages (and, later, the operator console) on their own port.

Listens on ``WEB_HOST``:``WEB_PORT`` (default 127.0.0.1:8090), apart from the worker's health
server, which stays internal. Put it behind the reverse proxy that answers ``PUBLIC_BASE_URL``.
SIGTERM or Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
from typing import Any

import structlog
from aiohttp import web

from notifier.cli.pooling_guard import refuses_to_start
from notifier.config import Settings
from notifier.web.app import build_app
from notifier.worker import utc_now

log = structlog.get_logger("notifier.web")


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "web", help="serve the unsubscribe pages on WEB_HOST:WEB_PORT", description=__doc__
    )
    return parser


def handle(args: argparse.Namespace, settings: Settings) -> int:
    if refuses_to_start(settings):
        return 2
    log.info("web_listening", host=settings.web_host, port=settings.web_port)
    app = build_app(settings, utc_now)
    web.run_app(app, host=settings.web_host, port=settings.web_port, print=None, access_log=None)
    return 0
