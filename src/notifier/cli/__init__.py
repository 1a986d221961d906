"""The ``notifier`` command. Each subcommand is a module here with ``add`` and ``handle``.

stdout carries only a command's own output; logs go to stderr as JSON lines.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from types import ModuleType

from pydantic import ValidationError

from notifier.cli import (
    check,
    dev,
    host_triggers,
    migrate,
    preview,
    resend,
    run,
    upcoming,
    web,
    worker,
)
from notifier.config import Settings, settings_from_environment
from notifier.logs import configure_logging
from notifier.timemath.tz_database import use_tz_database

COMMANDS: tuple[ModuleType, ...] = (
    migrate,
    host_triggers,
    worker,
    web,
    run,
    resend,
    dev,
    check,
    preview,
    upcoming,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notifier",
        description="Sends a scheduling application's notifications. Operating guide: runbook.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add(sub).set_defaults(handle=module.handle)
    return parser


def load_settings() -> Settings:
    """Settings, or an exit naming every bad variable (values are never echoed)."""
    try:
        return settings_from_environment()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise SystemExit(f"notifier: bad configuration: {problems}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level)
    use_tz_database(settings.tz_database)  # before any zone is read: one database everywhere
    code: int = args.handle(args, settings)
    return code
