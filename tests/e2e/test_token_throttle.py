"""Failed token requests slow the address they come from, never the client they name:
real servers on loopback, requests sent from several loopback addresses (127.0.0.0/8 is
all ours on Linux), on SQLite and on PostgreSQL, and across two API processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from connectpsp.bootstrap import build
from connectpsp.domain.clients import ClientCredentials
from connectpsp.settings import Settings
from tests.logscan import remember_secret
from tests.support import FakeClock, free_port, new_merchant, process_env, running_server

# Tens of seconds: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow

WRONG = "cs_wrong"


@contextmanager
def from_address(base_url: str, address: str) -> Iterator[httpx.Client]:
    """An HTTP client whose requests come from ``address`` (a loopback address)."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=base_url, transport=transport, timeout=30) as http:
        yield http


def ask(http: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    return http.post("/auth/token", json={"clientId": client_id, "clientSecret": secret})


def outcome(reply: httpx.Response) -> str:
    if reply.status_code == 200:
        return "token"
    return str(reply.json()["error"]["code"])


def limits(db_settings: Settings, *, per_pair: int = 5, per_source: int = 20) -> Settings:
    return replace(
        db_settings, token_failures_per_client=per_pair, token_failures_per_ip=per_source
    )


def test_an_attacker_never_locks_the_client_out(db_settings: Settings) -> None:
    with running_server(limits(db_settings)) as server:
        victim = new_merchant(server).creds
        with (
            from_address(server.base_url, "127.0.0.31") as attacker,
            from_address(server.base_url, "127.0.0.32") as client,
        ):
            seen = []
            for round_ in range(6):
                seen += [outcome(ask(attacker, victim.client_id, WRONG)) for _ in range(5)]
                # While the attack goes on, the client gets its token from its own address.
                assert outcome(ask(client, victim.client_id, victim.client_secret)) == "token"
                if round_ == 2:
                    server.clock.advance(seconds=301)  # the attacker's window starts again
            assert seen == (["INVALID_CREDENTIALS"] * 5 + ["RATE_LIMITED"] * 10) * 2


def test_a_spraying_address_is_limited_but_not_its_known_clients(db_settings: Settings) -> None:
    with running_server(limits(db_settings)) as server:
        regular, newcomer = new_merchant(server).creds, new_merchant(server).creds
        with (
            from_address(server.base_url, "127.0.0.41") as nat,
            from_address(server.base_url, "127.0.0.42") as elsewhere,
        ):
            assert outcome(ask(nat, regular.client_id, regular.client_secret)) == "token"
            server.clock.advance(hours=23)  # a success 23 h ago still makes a known source
            started = time.monotonic()
            sprayed = [outcome(ask(nat, f"unknown-{i}", WRONG)) for i in range(25)]
            assert sprayed == ["INVALID_CREDENTIALS"] * 20 + ["RATE_LIMITED"] * 5
            assert outcome(ask(nat, regular.client_id, regular.client_secret)) == "token"
            refused = ask(nat, newcomer.client_id, newcomer.client_secret)
            assert outcome(refused) == "RATE_LIMITED"  # never got a token from there
            # 300 s after the spray's first failure.
            since_first = time.monotonic() - started
            assert 300 - since_first - 1 <= int(refused.headers["Retry-After"]) <= 300
            assert outcome(ask(elsewhere, newcomer.client_id, newcomer.client_secret)) == ("token")
            server.clock.advance(seconds=int(refused.headers["Retry-After"]))
            assert outcome(ask(nat, newcomer.client_id, newcomer.client_secret)) == "token"


def test_retry_after_is_right_and_the_limit_lifts_after_the_window(
    db_settings: Settings,
) -> None:
    with running_server(limits(db_settings)) as server:
        victim = new_merchant(server).creds
        with (
            from_address(server.base_url, "127.0.0.51") as source,
            from_address(server.base_url, "127.0.0.52") as other,
        ):
            started = time.monotonic()
            for _ in range(5):
                assert outcome(ask(source, victim.client_id, WRONG)) == "INVALID_CREDENTIALS"
            server.clock.advance(seconds=100)
            limited = ask(source, victim.client_id, victim.client_secret)
            assert outcome(limited) == "RATE_LIMITED"  # the right secret waits there too
            wait = int(limited.headers["Retry-After"])
            # 300 s after the first failure, which was 100 s and this run's time ago.
            assert 200 - (time.monotonic() - started) - 1 <= wait <= 200
            assert outcome(ask(other, victim.client_id, victim.client_secret)) == "token"
            server.clock.advance(seconds=wait - 2)
            almost = ask(source, victim.client_id, victim.client_secret)
            assert outcome(almost) == "RATE_LIMITED"
            assert 1 <= int(almost.headers["Retry-After"]) <= 2
            server.clock.advance(seconds=int(almost.headers["Retry-After"]))
            assert outcome(ask(source, victim.client_id, victim.client_secret)) == "token"


@pytest.mark.parametrize(
    "client_id", ["é" * 100, "nul\x00byte", "x" * 100, "a|b", "pair:127.0.0.1|x"]
)
def test_any_client_id_is_counted_never_a_500(db_settings: Settings, client_id: str) -> None:
    with (
        running_server(limits(db_settings, per_pair=2)) as server,
        from_address(server.base_url, "127.0.0.71") as http,
    ):
        seen = [outcome(ask(http, client_id, WRONG)) for _ in range(3)]
        creds = new_merchant(server).creds
        if "\x00" in client_id:  # refused as text before it is a clientId at all
            assert seen == ["VALIDATION_ERROR"] * 3
            assert outcome(ask(http, creds.client_id, client_id)) == "VALIDATION_ERROR"
            return
        assert seen == ["INVALID_CREDENTIALS"] * 2 + ["RATE_LIMITED"]
        # The same text as a secret, for a real client: refused, not a 500.
        assert outcome(ask(http, creds.client_id, client_id)) == "INVALID_CREDENTIALS"


def start_api(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectpsp", "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the API did not come up"
        time.sleep(0.05)


def test_the_limits_hold_across_two_api_processes(db_settings: Settings, tmp_path: Path) -> None:
    container = build(db_settings, clock=FakeClock())  # migrated before either starts
    try:
        creds: ClientCredentials = container.clients.create("two-processes")
    finally:
        container.close()
    remember_secret(creds.client_secret, creds.crypto_token, creds.application_token)
    env = {
        **process_env(db_settings),
        "CONNECTPSP_TOKEN_FAILURES_PER_CLIENT": "4",
        "CONNECTPSP_TOKEN_FAILURES_PER_IP": "6",
    }
    ports = [free_port(), free_port()]
    procs = [start_api(env, port, tmp_path / f"api-{port}.log") for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        with (
            from_address(urls[0], "127.0.0.61") as a,
            from_address(urls[1], "127.0.0.61") as b,
        ):
            # Two failures on each process: four for the pair, wherever they landed.
            seen = [outcome(ask(http, creds.client_id, WRONG)) for http in (a, b, a, b)]
            assert seen == ["INVALID_CREDENTIALS"] * 4
            assert outcome(ask(a, creds.client_id, creds.client_secret)) == "RATE_LIMITED"
            assert outcome(ask(b, creds.client_id, creds.client_secret)) == "RATE_LIMITED"
        with (
            from_address(urls[0], "127.0.0.62") as a,
            from_address(urls[1], "127.0.0.62") as b,
        ):
            sprayed = [
                outcome(ask(http, f"unknown-{i}", WRONG)) for i, http in enumerate([a, b] * 3)
            ]
            assert sprayed == ["INVALID_CREDENTIALS"] * 6
            assert outcome(ask(a, "unknown-a", WRONG)) == "RATE_LIMITED"
            assert outcome(ask(b, "unknown-b", WRONG)) == "RATE_LIMITED"
        for url in urls:  # and the client, from its own address, is served by both
            with from_address(url, "127.0.0.63") as own:
                assert outcome(ask(own, creds.client_id, creds.client_secret)) == "token"
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
