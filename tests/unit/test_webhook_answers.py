"""What the sender makes of each shape of answer, from a receiver on loopback that writes
exactly the bytes given: the usual answer is read by hand, any other by h11, and both
give the same status, body excerpt and reuse of the connection."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import h11
import pytest

from connectpsp.adapters.webhook_http import AddressGuard, HttpSender
from connectpsp.service.ports import SendResult
from tests.support import FakeClock


@contextmanager
def answering(answer: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """A receiver that answers each request with ``answer`` and keeps the connection
    open; its URL, and the requests it read (one list entry per connection, all the
    bytes read on it)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    connections: list[bytes] = []

    def serve(conn: socket.socket, n: int) -> None:
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                    connections[n] += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                conn.sendall(answer)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(b"")
            threading.Thread(target=serve, args=(conn, len(connections) - 1), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/hooks?x=1", connections
    finally:
        listener.close()


def twice(url: str) -> list[SendResult]:
    async def run() -> list[SendResult]:
        sender = HttpSender(AddressGuard(allow_loopback=True), timeout=2, clock=FakeClock())
        try:
            headers = {"content-type": "application/json", "webhook-id": "msg_1"}
            return [await sender.send(url, headers, b'{"a":1}') for _ in range(2)]
        finally:
            sender.close()

    return asyncio.run(run())


BIG = b"x" * 3000

# (case, the answer, its status, the body kept, whether the connection is reused)
ANSWERS = [
    ("usual", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", True),
    ("no reason", b"HTTP/1.1 202\r\ncontent-length: 0\r\n\r\n", 202, "", True),
    ("server error", b"HTTP/1.1 500 Oops\r\ncontent-length: 4\r\n\r\nfail", 500, "fail", True),
    ("closing", b"HTTP/1.1 503 Busy\r\nConnection: close\r\ncontent-length: 1\r\n\r\nb", 503, "b", False),
    ("chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 200, "ok", True),
    ("continue first", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n", 201, "", True),
    ("HTTP/1.0", b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", 200, "ok", False),
    ("bare line feeds", b"HTTP/1.1 200 OK\ncontent-length: 2\n\nok", 200, "ok", True),
    ("no content", b"HTTP/1.1 204 No Content\r\n\r\n", 204, "", True),
    ("folded header", b"HTTP/1.1 200 OK\r\nx-a: 1\r\n 2\r\ncontent-length: 2\r\n\r\nok", 200, "ok", True),
    ("a long body", b"HTTP/1.1 200 OK\r\ncontent-length: 3000\r\n\r\n" + BIG, 200, "x" * 1024, True),
    ("bytes after the body", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1", 200, "ok", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "status", "body", "reused"),
    [pytest.param(*case[1:], id=case[0]) for case in ANSWERS],
)
def test_each_answer_gives_its_status_body_and_reuse(
    answer: bytes, status: int, body: str, reused: bool
) -> None:
    with answering(answer) as (url, connections):
        results = twice(url)
    assert [(r.status_code, r.body, r.error) for r in results] == [(status, body, None)] * 2
    assert len(connections) == (1 if reused else 2)
    # The request, written by hand, is what h11 would write.
    request = connections[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert request == [
        b"POST /hooks?x=1 HTTP/1.1",
        f"host: {url.split('/')[2]}".encode(),
        b"content-type: application/json",
        b"webhook-id: msg_1",
        b"content-length: 7",
    ]


BROKEN = [
    ("not HTTP", b"SMTP ready\r\n\r\n"),
    ("a bad status", b"HTTP/1.1 2xx Nope\r\ncontent-length: 0\r\n\r\n"),
    ("two lengths", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok"),
    ("a bad length", b"HTTP/1.1 200 OK\r\ncontent-length: -2\r\n\r\nok"),
    ("a bad header", b"HTTP/1.1 200 OK\r\nno colon here\r\ncontent-length: 0\r\n\r\n"),
]


@pytest.mark.parametrize("answer", [pytest.param(a, id=case) for case, a in BROKEN])
def test_a_broken_answer_is_a_failed_attempt(answer: bytes) -> None:
    with answering(answer) as (url, _):
        results = twice(url)
    assert [(r.status_code, r.error) for r in results] == [(None, "RemoteProtocolError")] * 2


def test_retry_after_is_read_from_the_usual_answer() -> None:
    with answering(b"HTTP/1.1 429 Slow\r\nRetry-After: 7\r\ncontent-length: 0\r\n\r\n") as (url, _):
        results = twice(url)
    assert [(r.status_code, r.retry_after) for r in results] == [(429, timedelta(seconds=7))] * 2


def test_a_target_h11_refuses_is_a_failed_attempt_and_nothing_is_sent() -> None:
    with answering(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n") as (url, connections):
        results = twice(url.replace("/hooks", "/a b"))
    assert [(r.status_code, r.error) for r in results] == [(None, "LocalProtocolError")] * 2
    assert all(not sent for sent in connections)


def test_the_usual_answer_is_read_without_h11(monkeypatch: pytest.MonkeyPatch) -> None:
    """h11's request checks and parsing took half of a send's CPU: the usual exchange
    goes without them."""

    def unused(*_: object, **__: object) -> None:
        raise AssertionError("h11 was used")

    monkeypatch.setattr(h11, "Connection", unused)
    with answering(ANSWERS[0][1]) as (url, connections):
        results = twice(url)
    assert [(r.status_code, r.body, r.error) for r in results] == [(200, "ok", None)] * 2
    assert len(connections) == 1
