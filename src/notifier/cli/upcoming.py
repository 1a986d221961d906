"""``notifier upcoming --user ID [--hours 48]``: what this user will be sent, and when.

Each email with its send time in the user's zone and in UTC, the changes of the zone's UTC
offset (DST) inside the span marked between them; ``--json`` for machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from typing import Any

from notifier.cli.args import hours, identifier
from notifier.cli.run import instant
from notifier.config import Settings
from notifier.db.engine import engine_for
from notifier.ops.upcoming import Report, build_report, make_span, report_json, report_lines
from notifier.ops.users import UserNotFoundError
from notifier.timemath.zones import UnknownZoneError
from notifier.worker import utc_now


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "upcoming",
        help="list what a user will be sent in the next hours, in their zone and in UTC",
        description=__doc__,
    )
    parser.add_argument("--user", type=identifier, required=True, help="the user's id")
    parser.add_argument("--hours", type=hours, default=48.0, help="length of the span (48)")
    parser.add_argument("--at", type=instant, help="start of the span; default now")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def handle(args: argparse.Namespace, settings: Settings) -> int:
    try:
        report = asyncio.run(_report(settings, args.user, args.at or utc_now(), args.hours))
    except (UserNotFoundError, UnknownZoneError) as exc:
        print(f"notifier upcoming: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report_json(report), indent=2))
    else:
        print("\n".join(report_lines(report)))
    return 0


async def _report(settings: Settings, user: Any, now: datetime, span_hours: float) -> Report:
    engine = engine_for(settings, pool_size=1)
    try:
        return await build_report(engine, user, make_span(settings, now, span_hours))
    finally:
        await engine.dispose()
