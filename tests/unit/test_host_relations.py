"""``db.host_relations``: what ``notifier check`` says of the host's relations (pure part)."""

from __future__ import annotations

from notifier.db.host_relations import Expected, expected_columns, problems
from notifier.db.schema import users


def test_every_host_column_is_expected_with_its_compatible_types() -> None:
    wanted = {(e.relation, e.column): e.types for e in expected_columns()}
    assert wanted[("users", "id")] == frozenset({"uuid"})
    assert wanted[("notification_settings", "digest_time")] == frozenset({"time without time zone"})
    assert wanted[("notification_settings", "digest_days")] == frozenset({"json", "jsonb"})
    assert wanted[("appointments", "starts_at")] == frozenset({"timestamp with time zone"})
    assert ("reminders_sent", "id") not in wanted  # the worker's own


def test_missing_relations_columns_and_types_are_named_once_per_relation() -> None:
    expected = [*expected_columns([users]), Expected("tasks", "id", frozenset({"uuid"}))]
    found = {"users": {"id": "uuid", "email": "text", "timezone": "integer"}}
    assert problems("app", expected, found) == [
        "app.users: lacks workspace_id (uuid); lacks full_name (character or character varying"
        " or text); timezone is integer, expected character or character varying or text;"
        " lacks is_active (boolean)",
        "app.tasks: missing (no table or view)",
    ]
