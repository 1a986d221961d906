"""Constants written into a statement's text, where a partial index's predicate names them.

asyncpg prepares every statement, and PostgreSQL, after five runs of one, may keep a
*generic* plan: planned once for any parameter values. A partial index (``WHERE status =
'running'``) can serve that plan only if the statement names the same constant; SQLAlchemy
sends ``column == "running"`` as a parameter, which could be anything, so the generic plan
reads the table, or a wider index, instead. Measured (session 14): each tick's ``job_runs``
write kept a plan that read every row of the table (156 µs a tick after 2,200 ticks, 292 µs
after 4,200), where the partial index answers in microseconds; on a large table PostgreSQL
would rather plan it afresh on every run (inferred, not measured). ``tests/integration/
test_generic_plans.py`` checks each tick's statement.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Text, literal_column


def inline(value: str) -> ColumnElement[str]:
    """``value`` as an SQL string literal in the statement's text (a word: no quoting)."""
    return literal_column(_quoted(value), Text)


def inline_list(values: Iterable[str]) -> ColumnElement[str]:
    """``('a', 'b')``: several constants for ``IN``, in the text as well."""
    return literal_column("(" + ", ".join(_quoted(value) for value in values) + ")")


def _quoted(value: str) -> str:
    if not value.replace("_", "").isalnum():
        raise ValueError(f"not a plain word: {value!r}")
    return f"'{value}'"
