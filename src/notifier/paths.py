"""Where the templates and migrations live, whether installed from a wheel or run from source.

The wheel carries them under ``notifier/_data`` (see pyproject); a source checkout keeps them
at the repository's top level. Either way the package finds its own files from any directory.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """The installed copy if present, else the one in the source tree."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"notifier cannot find its {name!r}; reinstall the package")


def templates_dir() -> Path:
    return data_path("templates")


def alembic_dir() -> Path:
    return data_path("alembic")
