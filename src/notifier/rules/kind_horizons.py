"""Each ledger kind's horizons at a given catch-up window, as cleanup and ``/health`` use them.

The facts themselves are declared once, with their kind, in ``rules.kinds`` (its docstring
says what each horizon means); this module only evaluates them for one ``CATCH_UP_MINUTES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from notifier.rules.kinds import FIRST_CLAIM, LEDGER_KINDS, SLOT

__all__ = ["FIRST_CLAIM", "SLOT", "KindHorizon", "fallback_horizon", "kind_horizons"]


@dataclass(frozen=True)
class KindHorizon:
    """One kind's horizons for one catch-up window."""

    reselect: timedelta
    last_chance: timedelta
    anchor: str = SLOT
    slot_is_due: bool = False


def kind_horizons(catch_up: timedelta) -> dict[str, KindHorizon]:
    """Every kind the worker records, for a catch-up window of ``catch_up``."""
    return {
        kind.name: KindHorizon(
            kind.reselect.at(catch_up), kind.last_chance.at(catch_up), kind.anchor, kind.slot_is_due
        )
        for kind in LEDGER_KINDS
    }


def fallback_horizon(catch_up: timedelta) -> KindHorizon:
    """For a kind this worker does not know (a newer worker's): the widest of all."""
    known = kind_horizons(catch_up).values()
    return KindHorizon(
        reselect=max(h.reselect for h in known),
        last_chance=max(h.last_chance for h in known),
        anchor=FIRST_CLAIM,
    )
