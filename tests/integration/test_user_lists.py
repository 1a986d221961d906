"""The summary emails' per-user lists (``services.user_lists``) against real PostgreSQL: each
user's rows come from their own span, by one statement whose text is the same for every
batch (a text per batch size grew a worker's memory with every size it met)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from notifier.app import Services
from notifier.services.summaries import SCHEDULED_APPOINTMENTS
from notifier.services.user_lists import Span, capped_lists, counts
from tests.support.data import Data

DAY = datetime(2026, 3, 10, tzinfo=UTC)


async def _user_with_two_days(data: Data) -> uuid.UUID:
    """A user with an appointment at 10:00 on ``DAY`` and on the day after."""
    user = await data.user()
    for day in (DAY, DAY + timedelta(days=1)):
        await data.appointment(user, day.replace(hour=10))
    return user


async def test_each_user_gets_the_rows_of_their_own_span_by_one_statement_text(
    services: Services, data: Data
) -> None:
    users = [await _user_with_two_days(data) for _ in range(3)]
    today, tomorrow = DAY.date(), (DAY + timedelta(days=1)).date()
    spans = {
        users[0]: Span(DAY, DAY + timedelta(days=1), uuid.uuid4()),
        users[1]: Span(DAY + timedelta(days=1), DAY + timedelta(days=2), uuid.uuid4()),
        users[2]: Span(DAY - timedelta(days=1), DAY + timedelta(days=3), uuid.uuid4()),
    }
    texts: set[str] = set()

    def keep(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "row_number()" in statement:
            texts.add(statement)

    event.listen(services.engine.sync_engine, "before_cursor_execute", keep)
    async with services.engine.connect() as conn:
        found = await capped_lists(conn, SCHEDULED_APPOINTMENTS, spans, 5)
        alone = await capped_lists(conn, SCHEDULED_APPOINTMENTS, {users[1]: spans[users[1]]}, 5)
        assert await counts(conn, SCHEDULED_APPOINTMENTS, spans) == {
            users[0]: 1,
            users[1]: 1,
            users[2]: 2,
        }
    starts = {user: [row["starts_at"].date() for row in found[user].rows] for user in users}
    assert starts == {users[0]: [today], users[1]: [tomorrow], users[2]: [today, tomorrow]}
    assert [row["starts_at"].date() for row in alone[users[1]].rows] == [tomorrow]
    assert len(texts) == 1  # three users and one: the same statement
