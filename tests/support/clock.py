"""Services whose clock a test sets: ticks, claims and cleanup see the instant it chooses."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from notifier.app import Services, close_services, open_services
from notifier.config import Settings


@dataclass
class SetClock:
    """A clock that reads ``at`` until the test moves it."""

    at: datetime

    def __call__(self) -> datetime:
        return self.at


@contextlib.asynccontextmanager
async def clocked_services(settings: Settings, clock: SetClock) -> AsyncIterator[Services]:
    """Services on ``settings`` whose wall clock is ``clock``."""
    services = open_services(settings, clock)
    try:
        yield services
    finally:
        await close_services(services)
