"""Whether a tick's local-time selection may use the worker's copy of the schedules.

Remembered between ticks in ``Services``: whether the full migration's triggers keep the copy
(asked once a process), and what ``host_follow`` decided for the current tick.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CopyState:
    """What ``host_follow`` found (None: not yet asked)."""

    # Whether ``local_time_schedules`` is current this tick (None: not yet asked); without it
    # selection reads the host (``services.host_follow``). Whether the full migration's own
    # triggers keep it, asked once a process.
    copy_kept: bool | None = None
    kept_by_migration: bool | None = None
