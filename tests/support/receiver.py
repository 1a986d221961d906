"""A real HTTP receiver for webhooks on 127.0.0.1: records every request, answers as told."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

TOKEN = "tok-3f9a"  # stands for the secret part of a Slack-style URL; never in a reason


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    transport: object


@dataclass
class Receiver:
    """A real aiohttp server that records every request and answers as the test says."""

    status: int = 200
    location: str | None = None
    release: asyncio.Event | None = None  # when set: answer only once the test sets it
    reset: bool = False  # when set: drop the connection with a TCP reset instead of answering
    delay: float = 0.0  # a slow receiver: seconds it takes per request once it has the body
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{TOKEN}?token={TOKEN}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Received(dict(request.headers), body, request.transport))
        if self.reset:
            _reset(request)
        if self.release is not None:
            await self.release.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = {"Location": self.location} if self.location else {}
        return web.Response(status=self.status, headers=headers, text="ok")


def _reset(request: web.Request) -> None:
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


StartReceiver = Callable[[], Awaitable[Receiver]]


@pytest.fixture
async def start_receiver() -> AsyncIterator[StartReceiver]:
    runners: list[web.AppRunner] = []
    receivers: list[Receiver] = []

    async def start() -> Receiver:
        receiver = Receiver()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", receiver.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        receiver.port = runner.addresses[0][1]
        runners.append(runner)
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        if receiver.release is not None:
            receiver.release.set()
    for runner in runners:
        await runner.cleanup()
