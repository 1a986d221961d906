"""``notifier worker``: the arq worker with every enabled cron job and the health server."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from notifier.config import Settings
from notifier.process import serve


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "worker", help="run the arq worker with every enabled cron job"
    )
    return parser


def handle(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(serve(settings))
    return 0
