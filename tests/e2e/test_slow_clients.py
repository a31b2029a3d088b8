"""Clients that are slow to send, or send nothing, lose their connections; everyone else is
served meanwhile (issue 13, finding 8). Hundreds of raw sockets against the real server on
loopback, as ``connectpsp serve`` configures it (``api/server.py``), with 1-2 s deadlines.

SQLite only: the database plays no part in when a connection is closed."""

from __future__ import annotations

import asyncio
import json
import resource
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from connectpsp.api.server import server_config
from connectpsp.settings import Settings, SettingsError
from tests.logscan import remember_secret
from tests.support import RunningServer, database, new_merchant, running_server

HEAD_S, BODY_S, KEEPALIVE_S = 1, 2, 1
PER_KIND = 80  # sockets of each of the four still kinds
TRICKLERS = 20  # sockets of each of the two trickling kinds
MARGIN_S = 2.0  # after the last deadline, how long the server has to close everything
PROMPT_S = 1.0  # the slowest answer to a real request we call prompt


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with database("sqlite", tmp_path_factory.mktemp("db")) as settings:
        short = replace(
            settings,
            header_timeout_seconds=HEAD_S,
            body_timeout_seconds=BODY_S,
            keepalive_timeout_seconds=KEEPALIVE_S,
        )
        with running_server(short) as running:
            yield running


@pytest.fixture(scope="module", autouse=True)
def enough_descriptors() -> None:
    """Each socket is two descriptors here (the server runs in this process)."""
    needed = 2 * (4 * PER_KIND + 2 * TRICKLERS) + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        top = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == resource.RLIM_INFINITY or soft >= needed, f"ulimit -n is below {needed}"


@dataclass
class Hostile:
    kind: str
    sock: socket.socket
    deadline_s: float  # the deadline that should close it, counted from ``since``
    since: float = field(default_factory=time.monotonic)
    received: bytes = b""
    closed_at: float | None = None
    trickle: bytes = b""  # what is left to send a byte at a time


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _head(method: str, path: str, *extra: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *extra, ""]).encode()


# /auth/token reads its body before anything else (a route that checks headers first
# may answer before the body is in, and the connection is then idle, not slow).
TOKEN_HEAD = _head(
    "POST", "/auth/token", "Content-Type: application/json", "Content-Length: 200", ""
)


def _open_hostiles(port: int) -> list[Hostile]:
    hostiles = []
    for _ in range(PER_KIND):
        hostiles.append(Hostile("idle", _connect(port), HEAD_S))

        half_head = Hostile("half head", _connect(port), HEAD_S)
        half_head.sock.sendall(_head("POST", "/cash-out", "Content-Type: application/json"))
        hostiles.append(half_head)

        half_body = Hostile("half body", _connect(port), BODY_S)
        half_body.sock.sendall(TOKEN_HEAD + b'{"clientId": "cl_')
        hostiles.append(half_body)

        kept = Hostile("kept alive", _connect(port), KEEPALIVE_S)
        kept.sock.sendall(_head("GET", "/healthz", ""))
        kept.received = _answers(kept.sock, 1)[0]
        kept.since = time.monotonic()  # idle from its answer on
        hostiles.append(kept)
    for _ in range(TRICKLERS):
        head = Hostile("trickled head", _connect(port), HEAD_S)
        head.trickle = _head("GET", "/healthz", "X-Pad: " + "a" * 1000)
        hostiles.append(head)
        body = Hostile("trickled body", _connect(port), BODY_S)
        body.sock.sendall(TOKEN_HEAD)
        body.trickle = b"x" * 200
        hostiles.append(body)
    return hostiles


def _trickle(hostiles: list[Hostile], stop: threading.Event) -> None:
    """A byte to each trickler every 0.2 s: each byte is progress, none completes."""
    while not stop.wait(0.2):
        for hostile in hostiles:
            if not hostile.trickle or hostile.closed_at is not None:
                continue
            try:
                hostile.sock.send(hostile.trickle[:1])
            except OSError:  # the server has closed it
                hostile.trickle = b""
            else:
                hostile.trickle = hostile.trickle[1:]


def _read(hostile: Hostile) -> None:
    try:
        data = hostile.sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        data = b""
    if data:
        hostile.received += data
    else:
        hostile.closed_at = time.monotonic()


def _slow_but_legitimate(port: int, body: bytes, result: list[bytes]) -> None:
    """Its head over 0.5 s (within the 1 s head deadline), then its body over 1.25 s
    (within the 2 s body deadline, and beyond the head deadline)."""
    with _connect(port) as sock:
        head = _head(
            "POST",
            "/auth/token",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "",
        )
        for piece in (head[:10], head[10:30], head[30:]):
            sock.sendall(piece)
            time.sleep(0.25)
        step = len(body) // 5 + 1
        for start in range(0, len(body), step):
            time.sleep(0.25)
            sock.sendall(body[start : start + step])
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        result.append(answer)


def test_slow_and_idle_connections_are_closed_while_others_are_served(
    slow_server: RunningServer,
) -> None:
    port = int(slow_server.base_url.rsplit(":", 1)[1])
    merchant = new_merchant(slow_server)
    merchant.balance()  # its token, before the clock starts

    hostiles = _open_hostiles(port)
    selector = selectors.DefaultSelector()
    for hostile in hostiles:
        hostile.sock.setblocking(False)
        selector.register(hostile.sock, selectors.EVENT_READ, hostile)
    stop = threading.Event()
    trickler = threading.Thread(target=_trickle, args=(hostiles, stop), daemon=True)
    trickler.start()
    credentials = json.dumps(
        {"clientId": merchant.creds.client_id, "clientSecret": merchant.creds.client_secret}
    ).encode()
    slow_answer: list[bytes] = []
    slow_client = threading.Thread(
        target=_slow_but_legitimate, args=(port, credentials, slow_answer), daemon=True
    )
    slow_client.start()

    latencies: list[float] = []
    give_up = time.monotonic() + max(HEAD_S, BODY_S, KEEPALIVE_S) + MARGIN_S
    try:
        while time.monotonic() < give_up and any(h.closed_at is None for h in hostiles):
            for path in ("/healthz", "/balance"):
                started = time.monotonic()
                reply = merchant.get(path)
                latencies.append(time.monotonic() - started)
                assert reply.status_code == 200, reply.text
            for key, _ in selector.select(timeout=0.02):
                _read(key.data)
                if key.data.closed_at is not None:
                    selector.unregister(key.fileobj)
    finally:
        stop.set()
        trickler.join(timeout=5)
        slow_client.join(timeout=10)
        selector.close()
        for hostile in hostiles:
            hostile.sock.close()
        merchant.close()

    # (a) real requests were answered promptly throughout
    assert len(latencies) >= 20 and max(latencies) < PROMPT_S, (len(latencies), max(latencies))
    # (b) every hostile connection was closed by the server, after its deadline, not before
    still_open = [h.kind for h in hostiles if h.closed_at is None]
    assert not still_open, f"{len(still_open)} still open: {sorted(set(still_open))}"
    for hostile in hostiles:
        assert hostile.closed_at is not None
        lived = hostile.closed_at - hostile.since
        assert lived >= hostile.deadline_s - 0.1, (hostile.kind, lived)
    # ... and those that sent part of a request were told why
    by_kind: dict[str, list[bytes]] = {}
    for hostile in hostiles:
        by_kind.setdefault(hostile.kind, []).append(hostile.received)
    assert set(by_kind["idle"]) == {b""}
    for kind in ("half head", "half body"):
        for received in by_kind[kind]:
            head, _, body = received.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), received
            assert b"connection: close" in head.lower()
            assert json.loads(body)["error"]["code"] == "REQUEST_TIMEOUT"
    for received in by_kind["kept alive"]:
        assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.count(b"HTTP/1.1") == 1
    for kind in ("trickled head", "trickled body"):
        for received in by_kind[kind]:  # a 408, or a reset if a trickled byte crossed it
            assert received == b"" or received.startswith(b"HTTP/1.1 408 "), received

    # (c) the slow but legitimate client was served
    assert slow_answer, "the slow client got no answer"
    head, _, body = slow_answer[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), slow_answer[0][:200]
    token = json.loads(body)["accessToken"]
    remember_secret(token)


def test_the_deadlines_come_from_the_environment_and_must_be_positive(tmp_path: Path) -> None:
    base = {"CONNECTPSP_VAR_DIR": str(tmp_path)}
    defaults = Settings.from_env(base)
    assert (
        defaults.header_timeout_seconds,
        defaults.body_timeout_seconds,
        defaults.keepalive_timeout_seconds,
    ) == (5, 10, 5)
    chosen = Settings.from_env(
        {
            **base,
            "CONNECTPSP_HEADER_TIMEOUT_SECONDS": "2",
            "CONNECTPSP_BODY_TIMEOUT_SECONDS": "30",
            "CONNECTPSP_KEEPALIVE_TIMEOUT_SECONDS": "75",
        }
    )
    assert (
        chosen.header_timeout_seconds,
        chosen.body_timeout_seconds,
        chosen.keepalive_timeout_seconds,
    ) == (2, 30, 75)
    for name in ("HEADER", "BODY", "KEEPALIVE"):
        variable = f"CONNECTPSP_{name}_TIMEOUT_SECONDS"
        with pytest.raises(SettingsError, match=f"{variable} must be at least 1"):
            Settings.from_env({**base, variable: "0"})
        with pytest.raises(SettingsError, match=f"{variable} must be an integer"):
            Settings.from_env({**base, variable: "1.5"})


SLOW_APP_S = 1.5  # longer than every deadline of these tests


async def _slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, then takes longer than any deadline to answer."""
    if scope["type"] == "lifespan":
        for step in ("startup", "shutdown"):
            await receive()
            await send({"type": f"lifespan.{step}.complete"})
        return
    body, more = b"", True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await asyncio.sleep(SLOW_APP_S)
    payload = b"done %d" % len(body)
    headers = [(b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module")
def slow_app_port() -> Iterator[int]:
    """``_slow_app`` under the production server configuration, on loopback."""
    settings = Settings(
        header_timeout_seconds=1, body_timeout_seconds=1, keepalive_timeout_seconds=1
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(server_config(_slow_app, settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _answers(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` responses with a Content-Length, read off ``sock``."""
    answers: list[bytes]
    buffer, answers = b"", []
    while len(answers) < count:
        head, found, rest = buffer.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ),
            None,
        )
        if found and length is not None and len(rest) >= length:
            answers.append(head + found + rest[:length])
            buffer = rest[length:]
            continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(answers)} of {count} answers: {buffer!r}"
        buffer += chunk
    return answers


def test_a_request_being_answered_is_never_cut(slow_app_port: int) -> None:
    """The deadlines are on the client sending: an app slower than all of them still
    answers, on a connection that stays usable; a pipelined head that arrives meanwhile
    and never completes gets the earlier answer in full before the connection closes."""
    with _connect(slow_app_port) as sock:
        started = time.monotonic()
        sock.sendall(_head("POST", "/slow", "Content-Length: 5", "") + b"hello")
        assert _answers(sock, 1)[0].endswith(b"\r\n\r\ndone 5")
        sock.sendall(_head("GET", "/slow", ""))
        assert _answers(sock, 1)[0].endswith(b"\r\n\r\ndone 0")
        assert time.monotonic() - started >= 2 * SLOW_APP_S

    with _connect(slow_app_port) as sock:
        started = time.monotonic()
        sock.sendall(_head("GET", "/slow", "") + b"GET /sl")
        answer = _answers(sock, 1)[0]
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"done 0")
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
        assert rest == b"" or rest.startswith(b"HTTP/1.1 408 "), rest
        assert time.monotonic() - started < SLOW_APP_S + 1 + MARGIN_S
