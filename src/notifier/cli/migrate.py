"""``notifier migrate``: bring the schema to head (safe to repeat)."""

from __future__ import annotations

import argparse
from typing import Any

from notifier.config import Settings
from notifier.db.migrate import upgrade_to_head


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "migrate", help="bring the database schema to head"
    )
    return parser


def handle(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_to_head(settings.database_url.get_secret_value())
    return 0
