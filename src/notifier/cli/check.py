"""``notifier check``: configuration, PostgreSQL, Redis and SMTP; exit 1 when any fails."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from notifier.config import Settings
from notifier.ops.checks import FAIL, run_checks
from notifier.worker import utc_now


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="check the configuration and the connections to PostgreSQL, Redis and SMTP",
        description="One line per check (ok, warn, FAIL); exits 1 when any check fails. "
        "Secrets are never printed.",
    )
    return parser


def handle(args: argparse.Namespace, settings: Settings) -> int:
    # Alembic announces its context at INFO while reading the schema's revision: not news here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    results = asyncio.run(run_checks(settings, utc_now()))
    for result in results:
        print(result.line())
    failed = [r.name for r in results if r.status == FAIL]
    print(f"notifier check: {'failed: ' + ', '.join(failed) if failed else 'all good'}")
    return 1 if failed else 0
