"""``notifier host-triggers install|remove``: the triggers that let a worker beside a host's
views (``migrate --own-tables-only``) keep its local-time copy instead of reading every user
each tick. Run by a role that may create triggers on the host's base tables; prints the
tables it changed, one per line. See runbook.md, "Beside an existing application".
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from notifier.config import Settings
from notifier.db import host_triggers
from notifier.db.engine import engine_for


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "host-triggers",
        help="install or remove the change triggers on the host's base tables",
        description=__doc__,
    )
    parser.add_argument("action", choices=["install", "remove"])
    return parser


def handle(args: argparse.Namespace, settings: Settings) -> int:
    tables = asyncio.run(_run(args.action, settings))
    for table in tables:
        print(table)
    return 0


async def _run(action: str, settings: Settings) -> list[str]:
    engine = engine_for(settings, pool_size=1)
    try:
        async with engine.begin() as conn:
            step = host_triggers.install if action == "install" else host_triggers.remove
            return await step(conn)
    finally:
        await engine.dispose()
