"""``python -m bench.smtp_client``: the worker's SMTP client alone, by what the server offers.

The same pre-built messages as the blast (``bench.blast.sample_message``) go through
``SmtpPool.send`` (the worker's pool) and through aiosmtplib's ``sendmail`` over the same
number of connections, into the benchmark's sink advertising nothing, ``PIPELINING``, or
``PIPELINING`` and ``CHUNKING``. Printed: messages/s and this process's CPU per message, the
figure that bounds a worker (the sink runs apart). Takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosmtplib

from bench.blast import sample_message
from bench.procs import SinkProcess
from notifier.delivery.smtp import SmtpOptions, SmtpPool

SENDER = "notifier@bench.test"
Send = Callable[[bytes], Awaitable[None]]


async def _drain(queue: list[bytes], send: Send) -> None:
    while queue:
        await send(queue.pop())


async def _timed(messages: list[bytes], connections: int, send: Send) -> tuple[float, float]:
    """Messages/s and CPU µs a message of sending all ``messages`` with ``connections`` tasks."""
    queue = list(messages)
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(_drain(queue, send) for _ in range(connections)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(messages) / wall, cpu / len(messages) * 1e6


async def _with_pool(port: int, messages: list[bytes], connections: int) -> tuple[float, float]:
    pool = SmtpPool(SmtpOptions("127.0.0.1", port, None, None, False, False, 30.0, connections))
    try:
        return await _timed(messages, connections, lambda m: pool.send(SENDER, "u@e.test", m))
    finally:
        await pool.close()


async def _with_sendmail(port: int, messages: list[bytes], connections: int) -> tuple[float, float]:
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port) for _ in range(connections)]
    for client in clients:
        await client.connect()
    idle = asyncio.Queue[aiosmtplib.SMTP]()
    for client in clients:
        idle.put_nowait(client)

    async def send(message: bytes) -> None:
        client = await idle.get()
        await client.sendmail(SENDER, ["u@e.test"], message)
        idle.put_nowait(client)

    try:
        return await _timed(messages, connections, send)
    finally:
        for client in clients:
            await client.quit()


async def measure(count: int, connections: int) -> list[str]:
    """A Markdown table: one row per server offer and client."""
    messages = [sample_message(i) for i in range(count)]
    folder = Path(tempfile.mkdtemp(prefix="notifier-smtp-"))
    rows = ["| server offers | client | messages/s | client CPU a message |", "|---|---|---:|---:|"]
    for mode in ("plain", "pipelining", "chunking"):
        for name, run in (("aiosmtplib sendmail", _with_sendmail), ("SmtpPool", _with_pool)):
            sink = SinkProcess.start(folder, f"{mode}-{name.split()[0]}", mode)
            try:
                rate, cpu = await run(sink.port, messages, connections)
            finally:
                sink.stop()
            rows.append(f"| {mode} | {name} | {rate:,.0f} | {cpu:.0f} µs |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.smtp_client", description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    print("\n".join(asyncio.run(measure(args.count, args.connections))))


if __name__ == "__main__":
    main()
