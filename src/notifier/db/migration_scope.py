"""What a migration may touch: under ``notifier migrate --own-tables-only`` (contract section
12) only the worker's own objects, in ``NOTIFIER_SCHEMA``; the host's tables (which may be
views of another application's) are neither created, altered, indexed nor given triggers.

Migrations ask ``host_included()`` around every step on a host table; ``db.migrate`` and
``alembic/env.py`` set the flag. Without the host's triggers, the local-time copy is not kept,
and the local-time kinds select from the host's relations instead (``services.local_time``).
"""

from __future__ import annotations

from alembic import context

OWN_TABLES_ONLY = "own_tables_only"


def host_included() -> bool:
    """False under ``--own-tables-only``: nothing in ``HOST_SCHEMA`` may change."""
    return not context.config.attributes.get(OWN_TABLES_ONLY, False)
