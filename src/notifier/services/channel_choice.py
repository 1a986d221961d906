"""Each recipient's channels for one kind, read per batch: preferences, defaults, addresses.

One query a batch reads the batch's ``notification_preferences`` rows of the kind; the pure
rule (``rules.channels``) then decides per user with ``DEFAULT_CHANNELS``. A
``task_reminders`` row names its own channel instead, and preferences are not consulted.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.app import Services
from notifier.channels.addresses import Addresses
from notifier.channels.registry import webhook_setup
from notifier.db.id_lists import among
from notifier.db.schema import notification_preferences, notification_settings
from notifier.rules.channels import Preferences, channels_for
from notifier.rules.recipient import RecipientState
from notifier.services.plan import Addressee, Plan

ByUser = Mapping[uuid.UUID, Preferences]


async def load_preferences(
    conn: AsyncConnection, kind: str, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[tuple[str, str], bool]]:
    """The batch's preference rows of ``kind``, by user."""
    ids = list(set(user_ids))
    found: dict[uuid.UUID, dict[tuple[str, str], bool]] = defaultdict(dict)
    if not ids:
        return found
    p = notification_preferences.c
    stmt = select(p.user_id, p.channel, p.enabled).where(
        p.kind == kind, among(p.user_id, ids, conn.dialect.name)
    )
    for user_id, channel, enabled in (await conn.execute(stmt)).all():
        found[user_id][(kind, channel)] = bool(enabled)
    return found


def quiet_columns() -> list[Any]:
    """The user's quiet hours, as the recipient policy reads them (``RecipientState``)."""
    s = notification_settings.c
    return [s.quiet_hours_start.label("quiet_start"), s.quiet_hours_end.label("quiet_end")]


def new_plan(services: Services) -> Plan:
    """A batch's plan, knowing whether webhooks are set up on this worker and the host's
    content decoder."""
    return Plan(webhooks=webhook_setup(services.settings), decoder=services.decoder)


def addressee(
    services: Services, row: Mapping[str, Any], kind: str, preferences: ByUser, user_id: Any
) -> Addressee:
    """The recipient of one fresh row (its ``email``, ``webhook_url`` and switch columns)."""
    mine = preferences.get(user_id)
    defaults = services.settings.channels_by_default()
    channels = channels_for(kind, mine, defaults) if mine else _default_channels(defaults)
    return Addressee(RecipientState.from_row(row), _addresses(row), tuple(channels))


@lru_cache(maxsize=8)
def _default_channels(defaults: frozenset[str]) -> tuple[str, ...]:
    """The channels of a user without preferences for the kind (most users): the defaults,
    in the fixed order, worked out once."""
    return tuple(channels_for("", {}, defaults))


class Addressees:
    """A batch's recipients, each worked out once: a user with many rows in the batch (ten
    appointments, forty tasks) has one state, one address pair and one channel list."""

    def __init__(self, services: Services, kind: str, preferences: ByUser) -> None:
        self._services = services
        self._kind = kind
        self._preferences = preferences
        self._known: dict[Any, Addressee] = {}

    def of(self, row: Mapping[str, Any], user_id: Any) -> Addressee:
        """The recipient of ``row``, whose user-level columns are the same on all their rows."""
        found = self._known.get(user_id)
        if found is None:
            found = addressee(self._services, row, self._kind, self._preferences, user_id)
            self._known[user_id] = found
        return found


def own_channel_addressee(row: Mapping[str, Any], channel: object) -> Addressee:
    """A ``task_reminders`` row's recipient: only the row's own channel."""
    name = channel if isinstance(channel, str) else "email" if channel is None else str(channel)
    return Addressee(RecipientState.from_row(row), _addresses(row), (name,))


def _addresses(row: Mapping[str, Any]) -> Addresses:
    return Addresses(row["email"], row["webhook_url"])
