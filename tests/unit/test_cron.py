"""Cron expressions from the environment become the right arq field sets."""

from __future__ import annotations

import pytest

from notifier.timemath.cron import parse_cron


@pytest.mark.parametrize(
    ("expression", "field", "expected"),
    [
        ("* * * * *", "minute", None),
        ("*/5 * * * *", "minute", frozenset(range(0, 60, 5))),
        ("*/15 * * * *", "minute", frozenset({0, 15, 30, 45})),
        ("17 3 * * *", "hour", frozenset({3})),
        ("0,30 * * * *", "minute", frozenset({0, 30})),
        ("0 9-17/4 * * *", "hour", frozenset({9, 13, 17})),
        ("0 0 * * 0", "weekday", frozenset({6})),  # cron Sunday is arq's 6
        ("0 0 * * 7", "weekday", frozenset({6})),
        ("0 0 * * 1-5", "weekday", frozenset({0, 1, 2, 3, 4})),
        ("0 0 1 1 *", "month", frozenset({1})),
        ("5/20 * * * *", "minute", frozenset({5, 25, 45})),
    ],
)
def test_fields(expression: str, field: str, expected: frozenset[int] | None) -> None:
    assert getattr(parse_cron(expression), field) == expected


@pytest.mark.parametrize(
    "expression",
    ["", "* * * *", "* * * * * *", "60 * * * *", "*/0 * * * *", "a * * * *", "5-1 * * * *"],
)
def test_bad_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="cron"):
        parse_cron(expression)
