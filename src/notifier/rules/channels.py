"""On which channels a kind goes to a user (contract section 9); pure.

A ``notification_preferences`` row for (kind, channel) decides; without one, the channels of
``DEFAULT_CHANNELS`` are on and the others off. A ``task_reminders`` row names its own
channel instead. A channel this worker does not know (a row written for a newer one, a typo)
is kept, so its slot is recorded ``skipped`` with the reason rather than vanishing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from notifier.rules.kinds import CHANNELS

Preferences = Mapping[tuple[str, str], bool]  # (kind, channel) -> enabled


def channels_for(kind: str, preferences: Preferences, defaults: Iterable[str]) -> list[str]:
    """The channels ``kind`` goes to, known ones first in a fixed order."""
    on_by_default = set(defaults)
    known = [c for c in CHANNELS if preferences.get((kind, c), c in on_by_default)]
    unknown = sorted(
        c for (k, c), on in preferences.items() if k == kind and on and c not in CHANNELS
    )
    return known + unknown
