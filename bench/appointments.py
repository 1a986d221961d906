"""Appointments for the benchmark, built server-side (``generate_series``) in seconds.

The background million is never due while the benchmark runs: starts at least two days away
(or in the past, or cancelled), so every reminder offset (up to 24 hours) misses the ticks.
Due appointments are added per phase, all with their 60-minute reminder due at one instant,
and retired afterwards (``completed``) so that later phases do not select them again.
"""

from __future__ import annotations

import zlib
from datetime import datetime

import asyncpg

# Helper tables (the benchmark's own): users and clients numbered for cheap random picks.
_NUMBERED = [
    "CREATE TABLE bench_users AS SELECT id, workspace_id, row_number() OVER () AS rn FROM users",
    "CREATE UNIQUE INDEX ON bench_users (rn)",
    """CREATE TABLE bench_clients AS
        SELECT gen_random_uuid() AS id, g AS rn FROM generate_series(1, 1000) g""",
    """INSERT INTO clients (id, full_name)
        SELECT id, (ARRAY['Casey Client','Zoë Ørsted','Ana María Núñez','李小龙'])[1 + rn % 4]
        FROM bench_clients""",
]

_BACKGROUND = """
INSERT INTO appointments (id, workspace_id, user_id, client_id, starts_at, ends_at, location,
                          service_name, status)
SELECT gen_random_uuid(), u.workspace_id, u.id, c.id, s.at, s.at + interval '50 minutes',
       'Room ' || (g % 20), 'Consultation',
       CASE WHEN g % 10 = 0 THEN 'cancelled' WHEN s.past THEN 'completed' ELSE 'scheduled' END
FROM generate_series(1, $2::int) g
CROSS JOIN LATERAL (SELECT g % 3 = 0 AS past) p
CROSS JOIN LATERAL (SELECT p.past,
    CASE WHEN p.past THEN $1::timestamptz - interval '2 days' - random() * interval '60 days'
         ELSE $1::timestamptz + interval '2 days' + random() * interval '88 days' END AS at) s
JOIN bench_users u ON u.rn = 1 + (g::bigint * 7919) % $3::int
JOIN bench_clients c ON c.rn = 1 + g % 1000
"""

# ``n`` appointments whose 60-minute reminder falls due at ``$1`` (minus up to n µs), so
# lateness is measured from one instant; ``$4`` tags them for retiring.
_DUE = """
INSERT INTO appointments (id, workspace_id, user_id, client_id, starts_at, ends_at, location,
                          service_name, status)
SELECT gen_random_uuid(), u.workspace_id, u.id, c.id,
       $1::timestamptz + interval '60 minutes' - g * interval '1 microsecond',
       $1::timestamptz + interval '110 minutes', $4::text, 'Consultation', 'scheduled'
FROM generate_series(1, $2::int) g
JOIN bench_users u ON u.rn = 1 + (g::bigint * 104729 + $5::int) % $3::int
JOIN bench_clients c ON c.rn = 1 + g % 1000
"""


async def build_background(dsn: str, count: int, around: datetime) -> None:
    """Numbered helper tables, then ``count`` appointments never due near ``around``."""
    conn = await asyncpg.connect(dsn)
    try:
        for sql in _NUMBERED:
            await conn.execute(sql)
        users = int(await conn.fetchval("SELECT count(*) FROM bench_users"))
        await conn.execute(_BACKGROUND, around, count, users)
        await conn.execute("VACUUM ANALYZE appointments")
    finally:
        await conn.close()


async def add_due(dsn: str, count: int, due: datetime, tag: str) -> None:
    """``count`` appointments, tagged ``tag`` (their location), reminders due at ``due``."""
    conn = await asyncpg.connect(dsn)
    try:
        users = int(await conn.fetchval("SELECT count(*) FROM bench_users"))
        await conn.execute(_DUE, due, count, users, tag, zlib.crc32(tag.encode()) % 1000)
    finally:
        await conn.close()


async def retire(dsn: str, tag: str) -> None:
    """The tagged appointments become ``completed``: no later tick selects them."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE appointments SET status = 'completed' WHERE location = $1", tag)
    finally:
        await conn.close()
