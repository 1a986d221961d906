"""``notifier dev``: the whole service on this machine, nothing to install but the package.

The real worker, crons and health server run on embedded stand-ins (a SQLite file, fakeredis,
an SMTP catcher with a web inbox) with a seeded demo workspace; ``DATABASE_URL``, ``REDIS_URL``
or ``SMTP_HOST``, when set, replace their stand-in. Runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

from notifier.config import Settings
from notifier.logs import configure_logging

DESCRIPTION = (
    "Runs the real worker, cron jobs and health server on embedded stand-ins (a SQLite file, "
    "an in-process Redis, an SMTP catcher with a web inbox) and seeds a demo workspace whose "
    "mail arrives within two minutes. DATABASE_URL, REDIS_URL or SMTP_HOST, when set, replace "
    "their stand-in. Development only; stop with Ctrl-C."
)


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0-65535 (0: any free port)")
    return value


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "dev",
        help="run everything locally on embedded stand-ins, with a demo and a web inbox",
        description=DESCRIPTION,
    )
    parser.add_argument("--inbox-port", type=port, default=8025, help="web inbox (default 8025)")
    parser.add_argument("--smtp-port", type=port, default=1025, help="SMTP catcher (default 1025)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".notifier-dev"),
        help="where the SQLite stand-in lives (default ./.notifier-dev)",
    )
    parser.add_argument(
        "--allow-existing-data",
        action="store_true",
        help="start even though DATABASE_URL holds data that is not the demo's",
    )
    parser.add_argument("--no-seed", action="store_true", help="do not (re)write the demo data")
    return parser


def _quiet_logs(settings: Settings) -> None:
    """Dev mode shows its banner and inbox; JSON logs only from WARNING unless LOG_LEVEL is set.

    aiosmtpd's own logger would print peers and commands: it stays at WARNING whatever the level.
    """
    given = "log_level" in settings.model_fields_set
    configure_logging(settings.log_level if given else "WARNING")
    logging.getLogger("mail.log").setLevel(logging.WARNING)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here so the production commands never load fakeredis, aiosmtpd or the inbox.
    from notifier.dev.service import DevOptions, run_dev

    _quiet_logs(settings)
    options = DevOptions(
        data_dir=args.data_dir,
        inbox_port=args.inbox_port,
        smtp_port=args.smtp_port,
        allow_existing_data=args.allow_existing_data,
        seed=not args.no_seed,
    )
    return asyncio.run(run_dev(options, settings))
