"""The benchmark's SMTP sink: fixed replies, no parsing, so it measures the sender, not itself.

aiosmtpd as a capture server costs ~370 µs of CPU a message and would cap a benchmark near
2,800 messages/s on this machine. This sink answers every command with a fixed reply (``250``,
``354`` after ``DATA``, ``221`` after ``QUIT``), advertises ``PIPELINING`` and ``CHUNKING``
like Postfix (replies to commands that arrive together leave in one write; ``BDAT <n> LAST``
carries a whole message), and keeps only what the report needs per message: the acceptance
time and the ``Message-ID`` (to join with ``reminders_sent``), found with one byte search.

Run as its own process (``python -m bench.sink PORT OUT [chunking|pipelining|plain]``, the
extensions it advertises) so its CPU is accounted apart; on
SIGTERM it writes one ``<unix time> <message-id>`` line per accepted message to ``OUT``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

_END = b"\r\n.\r\n"
_MID = b"\r\nMessage-ID: "
# The extensions advertised, by name on the command line (default: both, as Postfix does).
EXTENSIONS = {
    "chunking": ("PIPELINING", "CHUNKING"),
    "pipelining": ("PIPELINING",),
    "plain": (),
}
_REPLIES = {
    b"DATA": b"354 go ahead\r\n",
    b"QUIT": b"221 bye\r\n",
}


def ehlo_reply(extensions: tuple[str, ...]) -> bytes:
    return b"".join(f"250-{name}\r\n".encode() for name in ("sink", *extensions)) + (
        b"250 8BITMIME\r\n"
    )


class SinkProtocol(asyncio.Protocol):
    """One SMTP session: command lines answered from ``_REPLIES``; DATA read up to ``.``."""

    def __init__(self, accepted: list[tuple[float, bytes]], ehlo: bytes) -> None:
        self.accepted = accepted
        self.ehlo = ehlo
        self.buffer = b""
        self.in_data = False
        self.chunk = -1  # bytes of a BDAT chunk still to come, -1 outside one
        self.transport: asyncio.Transport | None = None
        self.replies: list[bytes] = []
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink ready\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer and self._step():
            pass
        if self.replies:
            assert self.transport is not None
            self.transport.write(b"".join(self.replies))
            self.replies.clear()
        if self.closing and self.transport is not None:
            self.transport.close()

    def _step(self) -> bool:
        """Consumes one command or one message from the buffer; False when it needs more."""
        if self.chunk >= 0:
            return self._chunk()
        return self._data() if self.in_data else self._command()

    def _chunk(self) -> bool:
        if len(self.buffer) < self.chunk:
            return False
        self._accept(self.buffer[: self.chunk])
        self.buffer, self.chunk = self.buffer[self.chunk :], -1
        return True

    def _data(self) -> bool:
        end = self.buffer.find(_END)
        if end < 0:
            return False
        self._accept(self.buffer[: end + 2])
        self.buffer, self.in_data = self.buffer[end + len(_END) :], False
        return True

    def _command(self) -> bool:
        end = self.buffer.find(b"\r\n")
        if end < 0:
            return False
        line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
        verb = line[:4].upper()
        if verb == b"BDAT":
            self.chunk = int(line.split()[1])  # every chunk is LAST: the sender sends one
            return True
        reply = self.ehlo if verb == b"EHLO" else _REPLIES.get(verb, b"250 ok\r\n")
        self.replies.append(reply)
        self.in_data = verb == b"DATA"
        self.closing = self.closing or verb == b"QUIT"
        return True

    def _accept(self, message: bytes) -> None:
        start = message.find(_MID)
        stop = message.find(b"\r\n", start + 2) if start >= 0 else -1
        self.accepted.append((time.time(), message[start + len(_MID) : stop] if stop > 0 else b""))
        self.replies.append(b"250 accepted\r\n")


async def serve(port: int, extensions: tuple[str, ...]) -> list[tuple[float, bytes]]:
    """Serves until SIGTERM; returns what was accepted."""
    accepted: list[tuple[float, bytes]] = []
    loop = asyncio.get_running_loop()
    ehlo = ehlo_reply(extensions)
    server = await loop.create_server(lambda: SinkProtocol(accepted, ehlo), "127.0.0.1", port)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    return accepted


def main() -> None:
    mode = sys.argv[3] if len(sys.argv) > 3 else "chunking"
    accepted = asyncio.run(serve(int(sys.argv[1]), EXTENSIONS[mode]))
    lines = (f"{at:.6f} {mid.decode('ascii', 'replace')}\n" for at, mid in accepted)
    Path(sys.argv[2]).write_text("".join(lines), encoding="ascii")


if __name__ == "__main__":
    main()
