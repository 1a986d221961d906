"""The ``notifier`` command: ``migrate``, ``worker`` and ``run JOB [--at T]``.

stdout carries only a command's own output (the JSON summary of ``run``); logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from notifier.config import JOB_NAMES, Settings
from notifier.logs import configure_logging


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give an instant with a zone, e.g. 2026-03-08T14:00:00Z")
    return value.astimezone(UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="notifier", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="bring the database schema to head")
    sub.add_parser("worker", help="run the arq worker with every enabled cron job")
    run = sub.add_parser("run", help="run one tick of one job and print its JSON summary")
    run.add_argument("job", choices=JOB_NAMES)
    run.add_argument("--at", type=_instant, help="the tick's instant (ISO 8601); default now")
    return parser


def _load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise SystemExit(f"notifier: bad configuration: {problems}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = _load_settings()
    configure_logging(settings.log_level)
    if args.command == "migrate":
        from notifier.db.migrate import upgrade_to_head

        upgrade_to_head(settings.database_url.get_secret_value())
        return 0
    if args.command == "worker":
        from notifier.process import serve

        asyncio.run(serve(settings))
        return 0
    return asyncio.run(_run_once(settings, args.job, args.at))


async def _run_once(settings: Settings, job: str, at: datetime | None) -> int:
    from notifier.app import close_services, open_services
    from notifier.jobs.registry import tick_functions
    from notifier.jobs.runs import run_recorded
    from notifier.worker import utc_now

    if job not in tick_functions():
        print(f"notifier: job {job!r} is not implemented in this version", file=sys.stderr)
        return 2
    services = open_services(settings, utc_now)
    try:
        counts = await run_recorded(services, job, at or utc_now())
    finally:
        await close_services(services)
    print(json.dumps(counts.as_dict()))
    return 0
