"""The ``connectpsp`` command as an operator runs it, in subprocesses."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectpsp.cli import TOUR_END, TOUR_START, demo_instructions
from connectpsp.service.auth import signature_for
from connectpsp.settings import Settings
from tests.support import Api, RunningServer, cash_out_body, new_merchant, running_server

CLI = [sys.executable, "-m", "connectpsp"]


@pytest.fixture
def env(db_settings: Settings, tmp_path: Path) -> dict[str, str]:
    environ = {
        **os.environ,
        "CONNECTPSP_DATABASE_URL": db_settings.database_url,
        "CONNECTPSP_VAR_DIR": str(tmp_path / "var"),
        "CONNECTPSP_MASTER_KEY": base64.urlsafe_b64encode(db_settings.master_key).decode(),
    }
    if db_settings.database_schema:
        environ["CONNECTPSP_DATABASE_SCHEMA"] = db_settings.database_schema
    return environ


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_clients_create_json_list_and_fund(env: dict[str, str]) -> None:
    created = cli(env, "clients", "create", "--name", "Acme Payouts", "--json").stdout
    creds = json.loads(created)  # exactly one JSON object, nothing else on stdout
    assert set(creds) == {
        "clientId",
        "clientSecret",
        "cryptoToken",
        "applicationToken",
        "webhookSecret",
    }
    assert creds["webhookSecret"].startswith("whsec_")
    assert created.strip().count("\n") == 0

    human = cli(env, "clients", "create", "--name", "Human Readable").stdout
    assert "clientSecret" in human and "Keep these safe" in human

    funded = cli(env, "sandbox", "fund", creds["clientId"], "1234.56").stdout
    assert "R$ 1,234.56" in funded
    listing = cli(env, "clients", "list").stdout
    assert "Acme Payouts" in listing and "R$ 1,234.56" in listing

    bad = cli(env, "sandbox", "fund", creds["clientId"], "1.001", check=False)
    assert bad.returncode == 2 and "2 decimal places" in bad.stdout
    unknown = cli(
        env, "sandbox", "fund", "00000000-0000-0000-0000-000000000000", "1.00", check=False
    )
    assert unknown.returncode == 1


def test_secrets_are_stored_hashed_or_encrypted(env: dict[str, str], db_settings: Settings) -> None:
    creds = json.loads(cli(env, "clients", "create", "--name", "Vault", "--json").stdout)
    from sqlalchemy import text

    from connectpsp.adapters.storage.db import Database

    db = Database(db_settings.database_url, schema=db_settings.database_schema)
    with db.engine.connect() as conn:
        row = (
            conn.execute(text("SELECT * FROM clients WHERE id = :id"), {"id": creds["clientId"]})
            .mappings()
            .one()
        )
        keys = conn.execute(text("SELECT secret_enc FROM signing_keys")).scalars().all()
    db.dispose()
    stored = " ".join(str(v) for v in row.values())
    for secret in ("clientSecret", "cryptoToken", "applicationToken", "webhookSecret"):
        assert creds[secret] not in stored
    assert row["secret_hash"].startswith("$argon2id$")
    assert row["crypto_token_enc"].startswith("v1.")
    assert keys and all(k.startswith("v1.") for k in keys)


def test_clients_disable_and_enable(
    env: dict[str, str], server: RunningServer, db_settings: Settings
) -> None:
    """The CLI is another process than the servers. A server reads the client afresh for
    every new token, and for a held token once its memory of the client (30 s) lapsed:
    this server has not served the client yet, so disabling shows at once; it then
    remembers the client disabled, so enabling shows at once on a server that has not."""
    m = new_merchant(server, fund=100_00)
    login = {"clientId": m.creds.client_id, "clientSecret": m.creds.client_secret}
    held = m.token  # got before the client is disabled
    assert "disabled" in cli(env, "clients", "disable", m.creds.client_id).stdout
    refused = m.http.post("/auth/token", json=login)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "INVALID_CREDENTIALS"
    for reply in (m.get("/balance"), m.cash_out()):
        assert reply.status_code == 401, reply.text
        assert reply.json()["error"]["code"] == "UNAUTHORIZED"
    assert "enabled" in cli(env, "clients", "enable", m.creds.client_id).stdout
    assert m.http.post("/auth/token", json=login).status_code == 200
    with running_server(db_settings) as fresh:
        again = Api(fresh, m.creds)
        again._token = held  # the token the client held all along
        assert again.get("/balance").status_code == 200
        assert again.cash_out().status_code == 202
        again.close()
    for command in ("disable", "enable"):
        unknown = cli(env, "clients", command, "00000000-0000-0000-0000-000000000000", check=False)
        assert unknown.returncode == 1
        assert unknown.stderr.strip() == "No client 00000000-0000-0000-0000-000000000000."


def test_sandbox_fund_is_refused_in_production(env: dict[str, str]) -> None:
    prod = {
        **env,
        "CONNECTPSP_ENV": "production",
        "CONNECTPSP_RAIL": "simulated",
        "CONNECTPSP_MASTER_KEY": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
    }
    result = cli(prod, "sandbox", "fund", "x", "1.00", check=False)
    assert result.returncode == 2 and "sandbox mode only" in result.stdout
    keyless = {k: v for k, v in env.items() if k != "CONNECTPSP_MASTER_KEY"}
    missing_key = cli(
        {**keyless, "CONNECTPSP_ENV": "production", "CONNECTPSP_RAIL": "simulated"},
        "migrate",
        check=False,
    )
    assert missing_key.returncode == 2 and "CONNECTPSP_MASTER_KEY" in missing_key.stdout


def test_idempotency_retention_under_a_day_is_refused(env: dict[str, str]) -> None:
    """The issue keeps idempotency keys for at least 24 h; a shorter setting is an error."""
    short = cli({**env, "CONNECTPSP_IDEMPOTENCY_RETENTION_HOURS": "23"}, "migrate", check=False)
    assert short.returncode == 2
    assert "CONNECTPSP_IDEMPOTENCY_RETENTION_HOURS must be at least 24" in short.stdout
    cli({**env, "CONNECTPSP_IDEMPOTENCY_RETENTION_HOURS": "24"}, "migrate")


def test_a_wrong_master_key_is_a_clear_error(env: dict[str, str]) -> None:
    cli(env, "migrate")
    other = {**env, "CONNECTPSP_MASTER_KEY": base64.urlsafe_b64encode(b"o" * 32).decode()}
    result = cli(other, "clients", "list", check=False)
    assert result.returncode == 2
    assert "CONNECTPSP_MASTER_KEY does not match" in result.stdout


def test_demo_creates_the_client_once(env: dict[str, str]) -> None:
    first = cli(env, "demo").stdout
    assert "created the demo client with R$ 10000.00" in first
    second = cli(env, "demo").stdout
    assert "created the demo client" not in second
    creds = json.loads((Path(env["CONNECTPSP_VAR_DIR"]) / "demo-client.json").read_text())
    for text in (first, second):
        assert creds["clientSecret"] in text
        assert "openssl dgst -sha256 -hmac" in text and "/cash-out" in text
    assert (Path(env["CONNECTPSP_VAR_DIR"]) / "demo-client.json").stat().st_mode & 0o777 == 0o600
    assert "R$ 10,000.00" in cli(env, "clients", "list").stdout


def test_demo_recreates_its_client_when_the_database_was_reset(
    env: dict[str, str], tmp_path: Path
) -> None:
    cli(env, "demo")
    saved = Path(env["CONNECTPSP_VAR_DIR"]) / "demo-client.json"
    old_id = json.loads(saved.read_text())["clientId"]
    # Same var/ (and so the same saved credentials), a brand-new database.
    reset = {**env, "CONNECTPSP_DATABASE_URL": f"sqlite:///{tmp_path / 'reset.db'}"}
    reset.pop("CONNECTPSP_DATABASE_SCHEMA", None)
    again = cli(reset, "demo").stdout
    assert "created the demo client" in again
    new_id = json.loads(saved.read_text())["clientId"]
    assert new_id != old_id and new_id in again and old_id not in again
    assert "R$ 10,000.00" in cli(reset, "clients", "list").stdout  # funded again


def cash_out_through(
    base: str, creds: dict[str, str], *, settle_within: float = 15
) -> dict[str, Any]:
    with httpx.Client(base_url=base, timeout=10) as http:
        token = http.post(
            "/auth/token",
            json={"clientId": creds["clientId"], "clientSecret": creds["clientSecret"]},
        ).json()
        access = token["accessToken"]
        headers = {
            "Authorization": f"Bearer {access}",
            "ApplicationToken": creds["applicationToken"],
        }
        accepted = http.post(
            "/cash-out",
            json=cash_out_body(),
            headers={
                **headers,
                "DigitalSignature": signature_for(access, creds["cryptoToken"]),
                "X-Idempotency-Key": "serve-1",
            },
        )
        assert accepted.status_code == 202, accepted.text
        code = accepted.json()["internalCode"]
        deadline = time.monotonic() + settle_within
        while True:
            body: dict[str, Any] = http.get(f"/cash-out/{code}", headers=headers).json()
            if body["status"] != "PROCESSING" or time.monotonic() > deadline:
                return body
            time.sleep(0.05)


def the_tour(printed: str) -> str:
    return printed[printed.index(TOUR_START) : printed.index(TOUR_END)]


def assert_the_printed_tour_works(printed: str, port: int) -> None:
    """Paste the demo's commands into a shell: token, signature, cash-out, lookups."""
    commands = the_tour(printed)
    result = subprocess.run(["bash", "-c", commands], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(part) for part in re.findall(r"\{.*?\}(?=\{|$)", result.stdout)]
    accepted, by_code, by_reference, balance = answers
    assert accepted["status"] == "PROCESSING", result.stdout
    assert by_code["internalCode"] == by_reference["internalCode"] == accepted["internalCode"]
    assert set(balance) == {"available", "reserved", "total"}
    assert f"127.0.0.1:{port}" in commands


def test_the_printed_tour_is_the_readmes_with_only_host_and_credentials_filled_in() -> None:
    """Every command of README.md's tour (the seed tutorial's) appears in what ``make run``
    prints, unchanged but for the host, the credentials and the tutorial's internalCode."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## A tour") :]
    section = section[: section.index("\n## ")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) >= 4, blocks  # token, signature, cash-out, lookups
    creds = {
        "clientId": "c0ffee00-0000-4000-8000-000000000001",
        "clientSecret": "cs_secret",
        "cryptoToken": "ct_crypto",
        "applicationToken": "at_application",
        "webhookSecret": "whsec_hook",
    }
    tour = the_tour(demo_instructions(creds, "http://127.0.0.1:8123"))
    for block in blocks:
        filled = (
            block.strip()
            .replace("http://127.0.0.1:8000", "http://127.0.0.1:8123")
            .replace("YOUR_CLIENT_ID", creds["clientId"])
            .replace("YOUR_CLIENT_SECRET", creds["clientSecret"])
            .replace("YOUR_APP_TOKEN", creds["applicationToken"])
            .replace("/cash-out/IVKPRMOCDY", "/cash-out/$INTERNAL_CODE")
        )
        assert filled in tour, filled
    assert f"export CRYPTO_TOKEN={creds['cryptoToken']}" in tour


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_healthy(proc: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.TransportError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_serve_no_worker_leaves_settlement_to_connectpsp_worker(env: dict[str, str]) -> None:
    creds = json.loads(cli(env, "clients", "create", "--name", "API only", "--json").stdout)
    cli(env, "sandbox", "fund", creds["clientId"], "100.00")
    env = {**env, "CONNECTPSP_SANDBOX_LATENCY_MS": "0"}
    port = free_port()
    api = start(env, "serve", "--port", str(port), "--no-worker")
    workers: list[subprocess.Popen[str]] = []
    try:
        wait_healthy(api, port)
        waiting = cash_out_through(f"http://127.0.0.1:{port}", creds, settle_within=2)
        assert waiting["status"] == "PROCESSING"  # accepted, and nobody settles it
        workers.append(start(env, "worker"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
                token = http.post(
                    "/auth/token",
                    json={"clientId": creds["clientId"], "clientSecret": creds["clientSecret"]},
                ).json()["accessToken"]
                found = http.get(
                    f"/cash-out/{waiting['internalCode']}",
                    headers={
                        "Authorization": f"Bearer {token}",
                        "ApplicationToken": creds["applicationToken"],
                    },
                ).json()
            if found["status"] != "PROCESSING":
                break
            time.sleep(0.2)
        assert found["status"] == "COMPLETED"  # settled by the separate worker
    finally:
        for proc in (api, *workers):
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)


def test_migrate_then_serve_settles_and_stops_on_sigterm(env: dict[str, str]) -> None:
    assert "up to date" in cli(env, "migrate").stdout
    creds = json.loads(cli(env, "clients", "create", "--name", "Served", "--json").stdout)
    cli(env, "sandbox", "fund", creds["clientId"], "100.00")
    env = {**env, "CONNECTPSP_SANDBOX_LATENCY_MS": "50"}
    port = free_port()
    tour = cli(env, "demo", "--port", str(port)).stdout  # what `make run` prints
    proc = start(env, "serve", "--port", str(port))
    try:
        wait_healthy(proc, port)
        reply = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert reply.status_code == 200 and reply.json() == {"status": "ok"}
        settled = cash_out_through(f"http://127.0.0.1:{port}", creds)
        assert settled["status"] == "COMPLETED"  # the in-process worker settled it
        assert_the_printed_tour_works(tour, port)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    # uvicorn finishes its requests, then re-raises SIGTERM so the exit status tells why.
    assert proc.returncode in (0, -signal.SIGTERM)
    assert "Finished server process" in err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("path") == "/healthz" and line.get("request_id") for line in lines)
