"""A keep-alive webhook receiver in its own process, for ``bench.channels``: answers 200 at
once, counts requests, prints the count when stopped (SIGTERM). Loopback only."""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web


async def serve(port: int) -> int:
    count = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal count
        await request.read()
        count += 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    return count


def main() -> None:
    print(asyncio.run(serve(int(sys.argv[1]))), flush=True)


if __name__ == "__main__":
    main()
