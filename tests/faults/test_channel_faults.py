"""In-app and webhook deliveries under kill -9: the same bounds as email (runbook).

A real worker process sends appointment reminders to a real HTTP receiver and as in-app rows,
is killed mid-batch, and a second worker finishes. Every slot is delivered; a webhook may be
posted again only for the sends accepted but not yet recorded (at most ``SEND_WINDOW``), and
then with the same ``webhook-id``; every in-app row exists exactly once.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, update

from notifier.app import Services
from notifier.config import Settings
from notifier.db.schema import (
    in_app_notifications,
    notification_preferences,
    notification_settings,
    reminders_sent,
)
from tests.support.data import Data
from tests.support.receiver import StartReceiver
from tests.support.worker import WorkerProcess, wait_until

WINDOW = 8
SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
KIND = "appointment_reminder"


async def _users(services: Services, data: Data, url: str) -> tuple[list[uuid.UUID], int]:
    """Ten webhook users and ten in-app users (email off for all); returns them and the
    count of in-app users."""
    hooks = [await data.user(email=f"h{i}@example.com", settings={}) for i in range(10)]
    apps = [await data.user(email=f"a{i}@example.com", settings={}) for i in range(10)]
    rows = [(u, "webhook") for u in hooks] + [(u, "in_app") for u in apps]
    async with services.engine.begin() as conn:
        await conn.execute(
            update(notification_settings)
            .where(notification_settings.c.user_id.in_(hooks))
            .values(webhook_url=url)
        )
        await conn.execute(insert(notification_preferences), _preferences(rows))
    return hooks + apps, len(apps)


def _preferences(rows: list[tuple[uuid.UUID, str]]) -> list[dict[str, object]]:
    """The channel on and email off, per user."""
    now = datetime.now(UTC)
    return [
        {"user_id": user, "kind": KIND, "channel": name, "enabled": on, "updated_at": now}
        for user, channel in rows
        for name, on in ((channel, True), ("email", False))
    ]


async def _sent(services: Services) -> int:
    async with services.engine.connect() as conn:
        stmt = select(func.count()).where(reminders_sent.c.status == "sent")
        return int((await conn.execute(stmt)).scalar_one())


async def _in_app_rows(services: Services) -> int:
    async with services.engine.connect() as conn:
        return int(
            (
                await conn.execute(select(func.count()).select_from(in_app_notifications))
            ).scalar_one()
        )


async def test_kill_9_mid_batch_delivers_every_slot_within_the_email_bound(
    services: Services,
    settings: Settings,
    data: Data,
    tmp_path: Path,
    start_receiver: StartReceiver,
) -> None:
    receiver = await start_receiver()
    receiver.delay = 0.02
    users, _ = await _users(services, data, receiver.url)
    base = datetime.now(UTC) + timedelta(minutes=60) - timedelta(seconds=1)
    for i in range(400):
        await data.appointment(users[i % len(users)], base - timedelta(milliseconds=i))
    env = {
        "CLAIM_LEASE_SECONDS": "10",
        "SMTP_POOL_SIZE": "4",
        "SEND_WINDOW": str(WINDOW),
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_ALLOW_PRIVATE": "true",
    }
    first = WorkerProcess.start(settings, tmp_path, "first", **env)

    async def some_posted() -> bool:
        return len(receiver.requests) >= 60

    try:
        await wait_until(some_posted, 90, "the first worker to post 60 webhooks", interval=0.01)
    finally:
        first.kill9()
    receiver.delay = 0.0
    second = WorkerProcess.start(settings, tmp_path, "second", **env)

    async def all_sent() -> bool:
        return await _sent(services) == 400

    try:
        await wait_until(all_sent, 180, "the restarted worker to finish all 400 slots")
    finally:
        assert await second.stop() == 0
    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert len(ids) == 200  # every webhook slot, each under its own stable id
    assert sum(ids.values()) - 200 <= WINDOW
    assert await _in_app_rows(services) == 200
