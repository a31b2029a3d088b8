"""A fast webhook receiver on loopback, in a process of its own.

It answers every POST with 200 at once and remembers when each arrived. For a
``CASHOUT_*`` webhook whose ``externalReference`` is ``b<due ns>-...`` (see
``bench.load``) it also records the end-to-end latency: from when the cash-out's POST
was due to when its webhook arrived. ``GET /stats`` returns what it saw;
``POST /reset`` forgets it.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["Receiver", "ReceiverStats"]

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
_MARK = b'"externalReference":"b'


@dataclass
class ReceiverStats:
    count: int = 0
    first: float = 0.0  # time.monotonic() of the first and last delivery
    last: float = 0.0
    # [due, latency]: when the cash-out's POST was due (time.monotonic()), and the
    # microseconds from then until its webhook arrived.
    e2e: list[tuple[float, int]] = field(default_factory=list)

    def latencies_us(self, since: float, until: float) -> list[int]:
        """End-to-end latencies of the cash-outs due in ``[since, until)``."""
        return [latency for due, latency in self.e2e if since <= due < until]

    @property
    def rate(self) -> float:
        """Deliveries per second, first to last: start-up time is not counted."""
        span = self.last - self.first
        return (self.count - 1) / span if self.count > 1 and span > 0 else 0.0


class _State:
    def __init__(self) -> None:
        self.stats = ReceiverStats()

    def record(self, body: bytes) -> None:
        now = time.monotonic()
        stats = self.stats
        if stats.count == 0:
            stats.first = now
        stats.count += 1
        stats.last = now
        at = body.find(_MARK)
        if at >= 0:
            start = at + len(_MARK)
            due_ns = int(body[start : body.index(b"-", start)])
            stats.e2e.append((due_ns / 1e9, (time.monotonic_ns() - due_ns) // 1000))


async def _serve_connection(
    state: _State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            if head.startswith(b"GET /stats"):
                payload = json.dumps(state.stats.__dict__).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
            elif head.startswith(b"POST /reset"):
                state.stats = ReceiverStats()
                writer.write(_OK)
            else:
                state.record(body)
                writer.write(_OK)
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def _serve(sock: socket.socket) -> None:
    state = _State()
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(state, r, w), sock=sock, backlog=1024
    )
    async with server:
        await server.serve_forever()


def _run(sock: socket.socket) -> None:
    try:
        import uvloop

        uvloop.run(_serve(sock))
    except ImportError:  # pragma: no cover
        asyncio.run(_serve(sock))


class Receiver:
    """Starts the receiver process on a free loopback port; a context manager."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        context = multiprocessing.get_context("spawn")
        self._proc = context.Process(target=_run, args=(self._sock,), daemon=True)

    def __enter__(self) -> Receiver:
        self._proc.start()
        self.reset()  # also waits until it answers
        return self

    def __exit__(self, *_: Any) -> None:
        self._proc.terminate()
        self._proc.join(5)
        self._sock.close()

    def _call(self, method: str, path: str) -> httpx.Response:
        deadline = time.monotonic() + 10
        while True:
            try:
                return httpx.request(method, f"http://127.0.0.1:{self.port}{path}", timeout=10)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def reset(self) -> None:
        self._call("POST", "/reset")

    def stats(self) -> ReceiverStats:
        found = self._call("GET", "/stats").json()
        found["e2e"] = [(due, latency) for due, latency in found["e2e"]]
        return ReceiverStats(**found)

    def wait_for(self, count: int, timeout: float) -> ReceiverStats:
        """Stats once ``count`` deliveries arrived, or when ``timeout`` runs out."""
        deadline = time.monotonic() + timeout
        stats = self.stats()
        while stats.count < count and time.monotonic() < deadline:
            time.sleep(0.1)
            stats = self.stats()
        return stats
