"""Runs the package's own Alembic tree, so ``notifier migrate`` works from any directory."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from notifier.config import to_async_url
from notifier.paths import alembic_dir


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(alembic_dir()))
    config.set_main_option("sqlalchemy.url", to_async_url(database_url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade_to_head(database_url: str) -> None:
    """Brings the schema to head; safe to run any number of times."""
    command.upgrade(alembic_config(database_url), "head")
