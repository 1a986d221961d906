"""Which tz database a process reads its zones from, and which release of it that is.

zoneinfo reads the host's zone files (its TZPATH) first and the ``tzdata`` package only for
zones the host lacks. Two hosts, or an image and the next one, with different tz databases
then compute different instants for a zone whose rules changed (contract section 4 promises
one answer). So every process starts with ``use_tz_database(settings.tz_database)``:
``bundled`` (the default) empties TZPATH, and every zone comes from the ``tzdata`` package that
constraints.txt pins, the same on every host; ``system`` (TZ_DATABASE=system) keeps the host's
files, for an operator who updates them faster than this package is released.

Nothing happens at import: the command calls ``use_tz_database`` once, at start, before any zone
is read. ``/health``, ``notifier check`` and the dev banner show ``current_tz_database()``.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Literal

TzChoice = Literal["bundled", "system"]
ZI_FILE = "tzdata.zi"  # the compact text form of the database; its first line is "# version X"
VERSION_PREFIX = "# version "
UNKNOWN = "unknown"


@dataclass(frozen=True)
class TzDatabase:
    """Where zones come from (``bundled`` or ``system``) and the IANA release, e.g. ``2026f``."""

    source: TzChoice
    version: str

    def as_json(self) -> dict[str, str]:
        return {"source": self.source, "version": self.version}

    def describe(self) -> str:
        where = "the tzdata package" if self.source == "bundled" else "the host's zone files"
        return f"{self.source} ({where}), IANA release {self.version}"


def use_tz_database(choice: TzChoice) -> None:
    """Points zoneinfo at the chosen database; zones already loaded are forgotten."""
    if choice == "bundled":
        zoneinfo.reset_tzpath(to=())
    else:
        zoneinfo.reset_tzpath()  # PYTHONTZPATH, else the host's usual folders
    zoneinfo.ZoneInfo.clear_cache()


def tz_database(choice: TzChoice) -> TzDatabase:
    """The database in use after ``use_tz_database(choice)``, with its release."""
    if choice == "bundled":
        return TzDatabase("bundled", bundled_version())
    return TzDatabase("system", system_version(zoneinfo.TZPATH))


def current_tz_database() -> TzDatabase:
    """The database this process reads now: bundled exactly when zoneinfo's path is empty."""
    return tz_database("system" if zoneinfo.TZPATH else "bundled")


def bundled_version() -> str:
    """The release the ``tzdata`` package carries, from its own ``tzdata.zi``."""
    try:
        zi = resources.files("tzdata.zoneinfo").joinpath(ZI_FILE)
        return version_line(zi.read_text(encoding="utf-8").splitlines()[:1])
    except (ModuleNotFoundError, OSError):
        return _package_version()


def _package_version() -> str:
    """The package's own version (``2026.6`` for ``2026f``): better than nothing."""
    try:
        return f"tzdata {metadata.version('tzdata')}"
    except metadata.PackageNotFoundError:
        return UNKNOWN


def system_version(tzpath: Iterable[str]) -> str:
    """The release in the first ``tzdata.zi`` found on the zone path; Debian ships one, some
    systems do not, and then it is unknown."""
    for folder in tzpath:
        try:
            with (Path(folder) / ZI_FILE).open(encoding="utf-8") as handle:
                return version_line([handle.readline()])
        except OSError:
            continue
    return UNKNOWN


def version_line(lines: Iterable[str]) -> str:
    """``2026f`` from ``# version 2026f``; unknown for anything else."""
    for line in lines:
        if line.startswith(VERSION_PREFIX):
            return line[len(VERSION_PREFIX) :].strip() or UNKNOWN
    return UNKNOWN
