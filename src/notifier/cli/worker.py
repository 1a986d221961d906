"""``notifier worker``: the arq worker with every enabled cron job and the health server."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from notifier.cli.pooling_guard import refuses_to_start
from notifier.config import Settings
from notifier.process import serve


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "worker", help="run the arq worker with every enabled cron job"
    )
    return parser


def handle(args: argparse.Namespace, settings: Settings) -> int:
    if refuses_to_start(settings):
        return 2
    asyncio.run(serve(settings))
    return 0
