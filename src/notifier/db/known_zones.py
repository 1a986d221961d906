"""The zones in use, remembered between ticks and checked by every selection that uses them.

``local_time_zones`` only grows (a zone no longer used stays: it costs an empty probe), so
the count of its rows and a sum of their hashes, reported by the selection statement itself,
say whether the list a tick planned with was the table's whole content. Reading the list
every tick cost a round trip, ~1 ms of the 5 ms a tick with nobody due may take.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class KnownZones:
    """The list as last read, and the fingerprint PostgreSQL gave for it (None: never read)."""

    zones: tuple[str, ...] = ()
    fingerprint: str | None = None
    # Whether ``local_time_schedules`` is current this tick (None: not yet asked); without it
    # selection reads the host (``services.host_follow``). Whether the full migration's own
    # triggers keep it, asked once a process.
    copy_kept: bool | None = None
    kept_by_migration: bool | None = None

    def remember(self, zones: tuple[str, ...], fingerprint: str | None) -> None:
        self.zones, self.fingerprint = zones, fingerprint

    def holds(self, fingerprint: str | None) -> bool:
        """Whether a selection planned with this list covered every zone in the table."""
        return fingerprint is not None and fingerprint == self.fingerprint


# PostgreSQL: the table's fingerprint, in the zones read and in every selection;
# ``{zones}`` is the table's qualified name.
ZONES_FINGERPRINT_SQL = "SELECT count(*) || ':' || coalesce(sum(hashtext(zone)), 0) FROM {zones}"
