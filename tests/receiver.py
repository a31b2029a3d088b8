"""A real webhook receiver on loopback for tests: records every request and answers
with scripted statuses. It also counts raw connections, so it doubles as the SSRF
canary that must never be contacted.

Told the secrets it should see (``expect``), it checks every request's
``webhook-signature`` with the reference ``standardwebhooks`` library's signing (no
clock check, so a test's fake clock does not matter). A request no expected secret
signed is recorded in ``bad_signatures``, and the receiver's ``with`` block then fails.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    port: int
    requests: list[Received] = field(default_factory=list)
    # (status, extra headers) answered in order; 200 once the script runs out.
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    connections: int = 0
    delay: float = 0.0  # seconds each answer takes
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The secrets that may sign a request, by path (None: any path).
    secrets: dict[str | None, list[str]] = field(default_factory=dict)
    checked: int = 0  # requests whose signature was checked
    bad_signatures: list[Received] = field(default_factory=list)

    def expect(self, secret: str, path: str | None = None) -> None:
        """Check the signature of every request (to ``path``, or to any) against
        ``secret``, beside any secret expected before."""
        with self.lock:
            self.secrets.setdefault(path, []).append(secret)

    def _check(self, received: Received) -> None:
        """Record ``received`` as bad unless one of its signatures is one an expected
        secret makes; called with ``lock`` held."""
        expected = self.secrets.get(received.path, []) + self.secrets.get(None, [])
        if not expected:
            return
        self.checked += 1
        if not signed_by_any(expected, received):
            self.bad_signatures.append(received)

    def wait_for(self, count: int, timeout: float = 15) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            assert time.monotonic() < deadline, f"got {len(self.requests)} of {count} webhooks"
            time.sleep(0.02)

    def by_path(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


@contextmanager
def receiver(*, keep_alive: bool = False) -> Iterator[Receiver]:
    """With ``keep_alive``, it answers in HTTP/1.1 and keeps connections open."""
    state = Receiver(url="", port=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender died mid-request (a test's kill -9): like any HTTP server,
                # do not take a request that never arrived whole.
                self.close_connection = True
                return
            with state.lock:
                state.in_flight += 1
                state.most_in_flight = max(state.most_in_flight, state.in_flight)
            time.sleep(state.delay)
            with state.lock:
                state.in_flight -= 1
            with state.lock:
                received = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                state.requests.append(received)
                state._check(received)
                status, headers = state.script.pop(0) if state.script else (200, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def verify_request(self, request: Any, client_address: Any) -> bool:
            with state.lock:
                state.connections += 1
            return True

    server = Server(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    state.url = f"http://127.0.0.1:{state.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
    bad = [r.headers.get("webhook-id") for r in state.bad_signatures]
    assert not bad, f"deliveries no expected secret signed: {bad}"


def signed_by_any(secrets: list[str], received: Received) -> bool:
    """Whether one of the request's ``webhook-signature`` entries is the signature the
    reference library makes with one of ``secrets``."""
    try:
        message_id = received.headers["webhook-id"]
        sent_at = datetime.fromtimestamp(int(received.headers["webhook-timestamp"]), tz=UTC)
        body = received.body.decode()
        given = set(received.headers["webhook-signature"].split(" "))
    except (KeyError, ValueError):  # a header missing or malformed, a body not UTF-8
        return False
    return any(Webhook(secret).sign(message_id, sent_at, body) in given for secret in secrets)
