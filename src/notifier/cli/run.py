"""``notifier run JOB [--at T]``: one tick, now or as if at ``T``; JSON summary on stdout."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from notifier.app import close_services, open_services
from notifier.cli.pooling_guard import refuses_to_start
from notifier.config import Settings
from notifier.jobs.registry import tick_functions
from notifier.jobs.runs import run_recorded
from notifier.rules.kinds import JOB_NAMES
from notifier.worker import utc_now


def instant(text: str) -> datetime:
    """An ISO 8601 instant with a zone (``Z`` accepted), as UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give an instant with a zone, e.g. 2026-03-08T14:00:00Z")
    return value.astimezone(UTC)


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "run", help="run one tick of one job and print its JSON summary"
    )
    parser.add_argument("job", choices=JOB_NAMES)
    parser.add_argument("--at", type=instant, help="the tick's instant (ISO 8601); default now")
    return parser


def handle(args: argparse.Namespace, settings: Settings) -> int:
    if args.job not in tick_functions():
        print(f"notifier: job {args.job!r} is not implemented in this version", file=sys.stderr)
        return 2
    if refuses_to_start(settings):
        return 2
    counts = asyncio.run(_tick(settings, args.job, args.at or utc_now()))
    print(json.dumps(counts))
    return 0


async def _tick(settings: Settings, job: str, at: datetime) -> dict[str, int]:
    services = open_services(settings, utc_now)
    try:
        return (await run_recorded(services, job, at)).as_dict()
    finally:
        await close_services(services)
