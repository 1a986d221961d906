"""Whether the copy's next-send instants must be computed again for this process's tz database.

Each ``local_time_schedules`` row holds instants computed with the zone rules of one IANA
release (``timemath.tz_database``). A release that changed a zone's rules makes instants
already stored wrong by that change until each row's next send, so a worker that starts with
another release puts them back to "not computed" (``services.tz_reset``). What it decides from
is here, without I/O: the release recorded (``local_time_tz_database``, migration 0011) and
its own.

The newest release wins. During a rolling deploy the old workers still run beside the new
ones; if any difference reset the copy, each restart of an old worker and then of a new one
would reset ten million rows again, back and forth. So only a newer release resets (and is
recorded); an older one leaves the record alone and says so. Releases compare by year, then
by letters (``2026f`` < ``2026g`` < ``2026aa`` < ``2027a``); ``tzdata 2026.6``, the package's
version where its ``tzdata.zi`` is missing, is release ``2026f``. A release that cannot be
read (``unknown``: a host's zone files without ``tzdata.zi``) decides nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

_RELEASE = re.compile(r"(\d{4})([a-z]+)")
_PACKAGE = re.compile(r"tzdata (\d{4})\.(\d+)(?:\D.*)?")
_LETTERS = 26

ReleaseKey = tuple[int, int]  # (year, the letters' rank: a = 1, z = 26, aa = 27)


class Verdict(Enum):
    """What a starting worker does about the copy's instants."""

    KEEP = "keep"  # computed with this release, reset finished
    RESET = "reset"  # a newer release, none recorded, or a reset left unfinished
    OLDER = "older"  # this worker's release is older than the recorded one: leave it
    UNKNOWN = "unknown"  # this worker cannot tell its release: decide nothing


@dataclass(frozen=True)
class Recorded:
    """The record's release, and whether the reset to it was finished."""

    release: str
    reset_finished: bool


def release_key(release: str) -> ReleaseKey | None:
    """The release's place in time; None when it is not a release's name."""
    named = _RELEASE.fullmatch(release)
    if named:
        return int(named[1]), _rank(named[2])
    package = _PACKAGE.fullmatch(release)
    return (int(package[1]), int(package[2])) if package else None


def _rank(letters: str) -> int:
    """``a`` 1 … ``z`` 26, ``aa`` 27: the order IANA names a year's releases in."""
    rank = 0
    for letter in letters:
        rank = rank * _LETTERS + ord(letter) - ord("a") + 1
    return rank


def verdict(recorded: Recorded | None, mine: str) -> Verdict:
    """What a worker computing with release ``mine`` does, given the record."""
    own = release_key(mine)
    if own is None:
        return Verdict.UNKNOWN
    if recorded is None:
        return Verdict.RESET  # which release computed the stored instants is not known
    theirs = release_key(recorded.release)
    if theirs == own:
        return Verdict.KEEP if recorded.reset_finished else Verdict.RESET
    return Verdict.OLDER if theirs is not None and theirs > own else Verdict.RESET
