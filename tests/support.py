"""Test helpers: a controllable clock, databases, a real server on loopback, an API client."""

from __future__ import annotations

import base64
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, text

from connectpsp.api.app import create_app
from connectpsp.api.server import server_config
from connectpsp.bootstrap import Container, build
from connectpsp.domain.clients import ClientCredentials
from connectpsp.domain.ledger import FeePlan
from connectpsp.service.auth import signature_for
from connectpsp.settings import Settings
from tests.logscan import remember_secret

PG_ADMIN_URL = os.environ.get(
    "CONNECTPSP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MASTER_KEY = base64.urlsafe_b64decode(base64.urlsafe_b64encode(b"k" * 32))


class FakeClock:
    """Real time plus an offset a test can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(PG_ADMIN_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        engine.dispose()


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[Settings]:
    """Settings for a fresh database of ``kind`` ("sqlite" or "postgres")."""
    base = Settings(
        master_key=MASTER_KEY,
        var_dir=tmp,
        token_failures_per_ip=10_000,
        token_failures_per_client=10_000,
        sandbox_latency_ms=0,
        worker_poll_ms=20,
    )
    if kind == "sqlite":
        yield replace(base, database_url=f"sqlite:///{tmp / 'connectpsp.db'}")
    else:
        with pg_schema() as schema:
            yield replace(base, database_url=PG_ADMIN_URL, database_schema=schema)


def wait_for(check: Callable[..., object], timeout: float = 15) -> None:
    """Until ``check()`` is true: a change another thread or process makes in its time."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def free_port() -> int:
    """A loopback port nothing listens on, for a process that binds it by number later.

    Taken below the kernel's ephemeral range, where every ``bind(0)`` and outgoing
    connection gets its port: a port the kernel handed out and took back could be handed
    to another test's receiver before the process bound it (a run once met a receiver
    on the port its ``serve`` was given)."""
    if _OURS[1] > _EPHEMERAL_FROM:  # the ephemeral range starts inside ours: the kernel picks
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    while True:
        port = random.randrange(*_OURS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken: another
            return port


def _ephemeral_from() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


_EPHEMERAL_FROM = _ephemeral_from()
_OURS = (20_000, 30_000)  # where free_port looks


def process_env(
    settings: Settings, *, latency_ms: int = 0, lease_seconds: int = 3
) -> dict[str, str]:
    """The environment for a ``connectpsp`` process on ``settings``' database. A killed
    process's claimed jobs come back after ``lease_seconds``, and its webhook deliveries
    after their lease (4 x the webhook timeout + 30 s): both short, to keep tests short
    (the tests' receivers answer at once)."""
    env = {
        **os.environ,
        "CONNECTPSP_DATABASE_URL": settings.database_url,
        "CONNECTPSP_MASTER_KEY": base64.urlsafe_b64encode(settings.master_key).decode(),
        "CONNECTPSP_VAR_DIR": str(settings.var_dir),
        "CONNECTPSP_SANDBOX_LATENCY_MS": str(latency_ms),
        "CONNECTPSP_WORKER_POLL_MS": "20",
        "CONNECTPSP_JOB_LEASE_SECONDS": str(lease_seconds),
        "CONNECTPSP_WEBHOOK_TIMEOUT_SECONDS": "2",
        "CONNECTPSP_TOKEN_FAILURES_PER_IP": "10000",
    }
    if settings.database_schema:
        env["CONNECTPSP_DATABASE_SCHEMA"] = settings.database_schema
    return env


@dataclass
class RunningServer:
    container: Container
    base_url: str
    clock: FakeClock


@contextmanager
def running_server(
    settings: Settings, *, worker: bool = False, clock: FakeClock | None = None
) -> Iterator[RunningServer]:
    """The real ASGI app under uvicorn, configured as ``connectpsp serve`` configures it
    (``api/server.py``), on a free loopback port, in a thread; with ``worker``, settlement
    and webhook delivery run in the background as under ``connectpsp serve``."""
    clock = clock or FakeClock()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # Dynamic codes name their location on this server, where payers fetch it.
    settings = replace(settings, public_url=f"http://127.0.0.1:{port}")
    container = build(settings, clock=clock)
    app = create_app(container, background=container.worker if worker else None, console=container)
    server = uvicorn.Server(server_config(app, settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(container, f"http://127.0.0.1:{port}", clock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        container.close()


class Api:
    """A client of the HTTP API, as one merchant."""

    def __init__(self, server: RunningServer, creds: ClientCredentials) -> None:
        self.server = server
        self.creds = creds
        self.http = httpx.Client(base_url=server.base_url, timeout=30)
        self._token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            reply = self.http.post(
                "/auth/token",
                json={"clientId": self.creds.client_id, "clientSecret": self.creds.client_secret},
            )
            assert reply.status_code == 200, reply.text
            self._token = reply.json()["accessToken"]
            remember_secret(self._token)
        return self._token

    def renew_token(self) -> None:
        """Forget the cached token (after a test moved the clock past its expiry)."""
        self._token = None

    def headers(self, *, sign: bool = True, key: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "ApplicationToken": self.creds.application_token,
        }
        if sign:
            headers["DigitalSignature"] = signature_for(self.token, self.creds.crypto_token)
            headers["X-Idempotency-Key"] = key or str(uuid.uuid4())
            headers["Content-Type"] = "application/json"
        return headers

    def cash_out(
        self, body: dict[str, Any] | None = None, *, key: str | None = None, **fields: Any
    ) -> httpx.Response:
        payload = body if body is not None else cash_out_body(**fields)
        return self.http.post("/cash-out", json=payload, headers=self.headers(key=key))

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params, headers=self.headers(sign=False))

    def balance(self) -> dict[str, Any]:
        reply = self.get("/balance")
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def close(self) -> None:
        self.http.close()


def new_merchant(
    server: RunningServer,
    *,
    fund: int = 0,
    fee: FeePlan | None = None,
    daily_limit: int | None = None,
    per_transaction_limit: int | None = None,
    cash_in_fee: FeePlan | None = None,
    document: str | None = None,
) -> Api:
    creds = server.container.clients.create(
        f"merchant-{uuid.uuid4().hex[:6]}",
        fee_plan=fee,
        daily_limit=daily_limit,
        per_transaction_limit=per_transaction_limit,
        cash_in_fee_plan=cash_in_fee,
        document=document,
    )
    remember_secret(
        creds.client_secret, creds.crypto_token, creds.application_token, creds.webhook_secret
    )
    if fund:
        server.container.clients.fund(creds.client_id, fund)
    return Api(server, creds)


def cash_out_body(
    *,
    amount: Any = "10.00",
    reference: str | None = None,
    destination: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": amount,
        "externalReference": reference or f"ref-{uuid.uuid4().hex[:16]}",
        "description": "User withdrawal",
        "payee": {
            "name": "Maria Silva",
            "document": "12345678909",
            "destination": destination
            or {"type": "PIX", "pixKeyType": "CPF", "pixKey": "12345678909"},
        },
    }
    body.update(extra)
    return body


TERMINAL = ("COMPLETED", "FAILED")


def wait_terminal(api: Api, internal_code: str, timeout: float = 15) -> dict[str, Any]:
    """Poll GET /cash-out/{internalCode} until it is COMPLETED or FAILED."""
    deadline = time.monotonic() + timeout
    while True:
        reply = api.get(f"/cash-out/{internal_code}")
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, f"{internal_code} still {body['status']}"
        time.sleep(0.02)
