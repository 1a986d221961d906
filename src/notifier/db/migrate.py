"""Runs the package's own Alembic tree, so ``notifier migrate`` works from any directory."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from notifier.config import to_async_url
from notifier.db.engine import Schemas
from notifier.db.migration_scope import OWN_TABLES_ONLY
from notifier.paths import alembic_dir


def alembic_config(
    database_url: str, schemas: Schemas | None = None, *, own_tables_only: bool = False
) -> Config:
    """An Alembic config pointing at the packaged migrations and the given database, with the
    schemas of contract section 12 and whether to leave the host's tables alone."""
    config = Config()
    config.set_main_option("script_location", str(alembic_dir()))
    config.set_main_option("sqlalchemy.url", to_async_url(database_url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    config.attributes["schemas"] = schemas or Schemas()
    config.attributes[OWN_TABLES_ONLY] = own_tables_only
    return config


def upgrade_to_head(
    database_url: str, schemas: Schemas | None = None, *, own_tables_only: bool = False
) -> None:
    """Brings the schema to head; safe to run any number of times."""
    command.upgrade(alembic_config(database_url, schemas, own_tables_only=own_tables_only), "head")
