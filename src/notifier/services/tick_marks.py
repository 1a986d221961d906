"""Where a windowed kind's ticks have looked (``tick_marks``, migration 0012).

A slot that falls due while no worker ticks is past once its catch-up window is, unless the
user's quiet hours held it: then the period's end is its due instant (contract section 10),
and the first tick after the outage owes it though no tick saw it. Such a tick finds the gap
here (``timemath.windows.unseen_before``) and looks back over it for users with quiet hours.

The mark is raised only when it lags a quarter of a window behind (a write every ~15 ticks
at the default 60 minutes, not every tick): a lag under the window never reads as a gap.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.db.engine import autocommit
from notifier.db.schema import tick_marks
from notifier.db.upsert import raise_mark
from notifier.rules.quiet_hours import HOLD_REACH
from notifier.timemath.windows import Window, unseen_before


async def looked_until(conn: AsyncConnection, kind: str) -> datetime | None:
    """The latest window end a tick of ``kind`` selected through; None before the first."""
    m = tick_marks.c
    return (await conn.execute(select(m.looked_until).where(m.kind == kind))).scalar()


def unseen(window: Window, mark: datetime | None) -> Window | None:
    """What of the day before ``window`` no tick looked at (quiet periods last under one)."""
    return unseen_before(window, mark, HOLD_REACH)


def lags(window: Window, mark: datetime | None) -> bool:
    """Whether the mark is a quarter of a window or more behind ``window``'s end."""
    return mark is None or mark < window.end - (window.end - window.start) / 4


async def record(conn: AsyncConnection, kind: str, window: Window, mark: datetime | None) -> None:
    """Raises the kind's mark to ``window``'s end once it ``lags``, never lowers it (a tick
    for a past instant leaves it)."""
    if lags(window, mark):
        await raise_mark(conn, "tick_marks", "looked_until", kind, window.end)


async def record_on(engine: AsyncEngine, kind: str, window: Window, mark: datetime | None) -> None:
    """``record`` on a connection of its own, opened only when the mark lags: for a tick
    that read the mark on a connection it has given back already."""
    if lags(window, mark):
        async with autocommit(engine) as conn:
            await record(conn, kind, window, mark)
