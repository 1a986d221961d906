"""``notifier migrate``: bring the schema to head (safe to repeat).

``--own-tables-only`` (contract section 12): only the worker's tables, in ``NOTIFIER_SCHEMA``;
nothing in ``HOST_SCHEMA`` is created, altered or dropped (its tables may be another
application's, or views over them).

Migrations keep their ``search_path`` in one session, which a pooler in transaction mode does
not give: with ``DATABASE_POOLING=transaction`` the command refuses, and is run with the
database's own address instead (runbook, "Behind a connection pooler").
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from notifier.config import Settings
from notifier.db.engine import Schemas
from notifier.db.migrate import upgrade_to_head


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "migrate", help="bring the database schema to head", description=__doc__
    )
    parser.add_argument(
        "--own-tables-only",
        action="store_true",
        help="create and upgrade only the worker's own tables (NOTIFIER_SCHEMA)",
    )
    return parser


NEEDS_A_SESSION = (
    "notifier migrate: migrations need one database session, which a pooler in transaction "
    "mode does not keep; run it with DATABASE_URL of PostgreSQL itself (or of a session-mode "
    "pool) and DATABASE_POOLING unset"
)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    if settings.database_pooling == "transaction":
        print(NEEDS_A_SESSION, file=sys.stderr)
        return 2
    upgrade_to_head(
        settings.database_url.get_secret_value(),
        Schemas.of(settings),
        own_tables_only=args.own_tables_only,
    )
    return 0
