"""The API runs over whatever satisfies ``api.services.Services``, not over the container:
here, hand-written fakes behind a real server on loopback. Also the sandbox's use case."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from connectpsp.api.app import create_app
from connectpsp.api.server import server_config
from connectpsp.domain.cashout import Creditor
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.domain.spi import ReasonCode
from connectpsp.service.sandbox import SandboxDict
from connectpsp.settings import Settings


class Untouched:
    """A use case the test's requests must never reach."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a route used {name} without reason")


@dataclass
class FakeSettings:
    max_body_bytes: int = 100
    max_batch_body_bytes: int = 200
    sandbox: bool = False
    metrics: bool = False


@dataclass
class FakeServices:
    settings: FakeSettings = field(default_factory=FakeSettings)
    database_up: bool = True
    schema_current: bool = True
    auth: Any = field(default_factory=Untouched)
    cash_outs: Any = field(default_factory=Untouched)
    cash_out_batches: Any = field(default_factory=Untouched)
    cash_ins: Any = field(default_factory=Untouched)
    pix_keys: Any = field(default_factory=Untouched)
    br_codes: Any = field(default_factory=Untouched)
    returns: Any = field(default_factory=Untouched)
    refunds: Any = field(default_factory=Untouched)
    infractions: Any = field(default_factory=Untouched)
    sandbox_returns: Any = field(default_factory=Untouched)
    sandbox_payer: Any = field(default_factory=Untouched)
    clients: Any = field(default_factory=Untouched)
    endpoints: Any = field(default_factory=Untouched)
    sandbox_dict: Any = field(default_factory=Untouched)
    sandbox_fraud_markers: Any = field(default_factory=Untouched)
    dict_security: Any = field(default_factory=Untouched)
    participants: Any = field(default_factory=Untouched)
    locations: Any = field(default_factory=Untouched)
    metrics: Any = field(default_factory=Untouched)
    listings: Any = field(default_factory=Untouched)

    def ping(self) -> bool:
        return self.database_up

    def schema_is_current(self) -> bool:
        return self.schema_current

    def follow_client_changes(self) -> bool:
        return False


@dataclass
class FakeBackground:
    events: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.events.append("start")

    def stop(self) -> None:
        self.events.append("stop")


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, as ``connectpsp serve`` runs it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(server_config(app, Settings()))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_health_asks_the_services_whether_the_database_answers() -> None:
    services = FakeServices()
    with serving(create_app(services)) as url:
        up = httpx.get(f"{url}/healthz")
        services.database_up = False
        down = httpx.get(f"{url}/healthz")
    assert (up.status_code, up.json()) == (200, {"status": "ok"})
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_readiness_needs_the_database_up_and_current_and_liveness_needs_neither() -> None:
    services = FakeServices()
    ready, live = {}, {}
    with serving(create_app(services)) as url:
        for state in ("ready", "behind", "down"):
            services.schema_current = state == "ready"
            services.database_up = state != "down"
            ready[state] = httpx.get(f"{url}/readyz")
            live[state] = httpx.get(f"{url}/livez")
    assert (ready["ready"].status_code, ready["ready"].json()) == (200, {"status": "ok"})
    for state, code in (("behind", "DATABASE_NOT_MIGRATED"), ("down", "SERVICE_UNAVAILABLE")):
        assert ready[state].status_code == 503, state
        assert ready[state].json()["error"]["code"] == code
        assert ready[state].headers["retry-after"] == "1"
    assert all((r.status_code, r.json()) == (200, {"status": "ok"}) for r in live.values())


def test_the_settings_the_api_reads_come_from_the_services() -> None:
    with serving(create_app(FakeServices(FakeSettings(max_body_bytes=100)))) as url:
        too_large = httpx.post(f"{url}/auth/token", content=b"{}" + b" " * 100)
        sandbox = httpx.post(f"{url}/sandbox/dict/keys", json={})
        # POST /cash-out/batch has a cap of its own (max_batch_body_bytes: 200 here).
        batch_fits = httpx.post(f"{url}/cash-out/batch", content=b"{}" + b" " * 150)
        batch_too_large = httpx.post(f"{url}/cash-out/batch", content=b"{}" + b" " * 200)
        single = httpx.post(f"{url}/cash-out", content=b"{}" + b" " * 150)
    assert too_large.status_code == 413
    assert batch_too_large.status_code == 413 and single.status_code == 413
    assert batch_fits.status_code != 413  # read on, to the route (which refuses it)
    assert sandbox.status_code == 404  # sandbox routes are off


def test_the_background_runs_while_the_app_serves() -> None:
    background = FakeBackground()
    with serving(create_app(FakeServices(), background=background)):
        while_serving = list(background.events)
    assert while_serving == ["start"]
    assert background.events == ["start", "stop"]


@dataclass
class RecordingRegistry:
    registered: list[tuple[PixKeyType, str, Creditor, ReasonCode | None]] = field(
        default_factory=list
    )

    def register(
        self,
        key_type: PixKeyType,
        key: str,
        owner: Creditor,
        reject_with: ReasonCode | None = None,
    ) -> None:
        self.registered.append((key_type, key, owner, reject_with))


def test_a_sandbox_key_is_registered_through_the_port() -> None:
    registry = RecordingRegistry()
    owner = Creditor("Ana", "12345678909", "18236120", "0001", "42", AccountType.PAYMENT)
    SandboxDict(registry).register_key(PixKeyType.EMAIL, "ana@example.com", owner, ReasonCode.AC03)
    assert registry.registered == [(PixKeyType.EMAIL, "ana@example.com", owner, ReasonCode.AC03)]
