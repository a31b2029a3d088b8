"""The ``connectpsp`` command as an operator runs it, in subprocesses."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.migrate import alembic_config, upgrade
from connectpsp.cli import TOUR_END, TOUR_START, demo_instructions
from connectpsp.service.auth import signature_for
from connectpsp.settings import Settings
from tests.cli_process import run_command
from tests.support import (
    PG_ADMIN_URL,
    Api,
    RunningServer,
    cash_out_body,
    free_port,
    new_merchant,
    pg_schema,
    running_server,
)

CLI = [sys.executable, "-m", "connectpsp"]


@pytest.fixture
def env(db_settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The environment of an operator's shell on the module's database, which is migrated
    (as after `connectpsp migrate`: the other commands refuse a database that is not)."""
    db = Database(db_settings.database_url, schema=db_settings.database_schema, pool_size=1)
    try:
        upgrade(db)  # the module's schema exists: the fixture made it
    finally:
        db.dispose()
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
    result = run_command(args, env, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def assert_one_line_error(result: subprocess.CompletedProcess[str], status: int, *says: str) -> str:
    """The CLI failed as an operator should see it: the exit status, nothing on stdout, and
    one line on stderr (``error: ...``) that says each of ``says``, with no traceback."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("error: "), result.stderr
    for text in says:
        assert text in line, line
    return line


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
    assert "R$ 1.234,56" in funded
    listing = cli(env, "clients", "list").stdout
    assert "Acme Payouts" in listing and "R$ 1.234,56" in listing

    bad = cli(env, "sandbox", "fund", creds["clientId"], "1.001", check=False)
    assert_one_line_error(bad, 2, "AMOUNT must have at most 2 decimal places")
    unknown = cli(
        env, "sandbox", "fund", "00000000-0000-0000-0000-000000000000", "1.00", check=False
    )
    assert_one_line_error(unknown, 1, "No client 00000000-0000-0000-0000-000000000000.")


def test_secrets_are_stored_hashed_or_encrypted(env: dict[str, str], db_settings: Settings) -> None:
    creds = json.loads(cli(env, "clients", "create", "--name", "Vault", "--json").stdout)
    from sqlalchemy import text

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
    every new token, and for a held token once it saw the clients change (every second):
    this server has not served the client yet, so disabling shows at once; it then
    remembers the client disabled, so enabling shows at once on a server that has not."""
    m = new_merchant(server, fund=100_00)
    login = {"clientId": m.creds.client_id, "clientSecret": m.creds.client_secret}
    held = m.token  # got before the client is disabled
    assert "active -> disabled" in cli(env, "clients", "disable", m.creds.client_id).stdout
    refused = m.http.post("/auth/token", json=login)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "INVALID_CREDENTIALS"
    for reply in (m.get("/balance"), m.cash_out()):
        assert reply.status_code == 401, reply.text
        assert reply.json()["error"]["code"] == "UNAUTHORIZED"
    assert "disabled -> active" in cli(env, "clients", "enable", m.creds.client_id).stdout
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
        assert unknown.stderr.strip() == "error: No client 00000000-0000-0000-0000-000000000000."


def test_sandbox_fund_is_refused_in_production(env: dict[str, str]) -> None:
    prod = {
        **env,
        "CONNECTPSP_ENV": "production",
        "CONNECTPSP_RAIL": "simulated",
        "CONNECTPSP_MASTER_KEY": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
    }
    result = cli(prod, "sandbox", "fund", "x", "1.00", check=False)
    assert_one_line_error(result, 2, "sandbox mode only")
    keyless = {k: v for k, v in env.items() if k != "CONNECTPSP_MASTER_KEY"}
    missing_key = cli(
        {**keyless, "CONNECTPSP_ENV": "production", "CONNECTPSP_RAIL": "simulated"},
        "migrate",
        check=False,
    )
    assert_one_line_error(missing_key, 2, "CONNECTPSP_MASTER_KEY is required in production")


def test_idempotency_retention_under_a_day_is_refused(env: dict[str, str]) -> None:
    """The issue keeps idempotency keys for at least 24 h; a shorter setting is an error."""
    short = cli({**env, "CONNECTPSP_IDEMPOTENCY_RETENTION_HOURS": "23"}, "migrate", check=False)
    assert_one_line_error(short, 2, "CONNECTPSP_IDEMPOTENCY_RETENTION_HOURS must be at least 24")
    cli({**env, "CONNECTPSP_IDEMPOTENCY_RETENTION_HOURS": "24"}, "migrate")


def test_a_wrong_master_key_is_a_clear_error(env: dict[str, str]) -> None:
    cli(env, "migrate")
    other = {**env, "CONNECTPSP_MASTER_KEY": base64.urlsafe_b64encode(b"o" * 32).decode()}
    result = cli(other, "clients", "list", check=False)
    assert_one_line_error(result, 2, "CONNECTPSP_MASTER_KEY does not match")


def test_version_is_the_installed_packages() -> None:
    from importlib.metadata import version

    import connectpsp

    result = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"connectpsp {version('connectpsp')}\n"
    assert version("connectpsp") == connectpsp.__version__


def test_a_forked_command_is_the_same_as_a_started_one(env: dict[str, str]) -> None:
    """The suite's commands are forked from a process that imported the CLI already
    (``tests/cli_process.py``); each answers as the command started anew does: what it
    prints, where, and its exit status, for answers, usage errors and refusals."""
    cli(env, "clients", "create", "--name", "Loja Forked")
    for args in (
        ["--help"],
        ["clients", "list", "--json"],
        ["clients", "nonsense"],
        ["clients", "create"],
        ["cash-outs", "list", "not-a-client-id"],
        ["risk", "decisions", "--since", "yesterday"],
    ):
        started = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)
        forked = cli(env, *args, check=False)
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            started.returncode,
            started.stdout,
            started.stderr,
        ), args


def demo_files(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["CONNECTPSP_VAR_DIR"]).glob("demo-client-*.json"))


def exported(printed: str) -> dict[str, str]:
    """The variables ``demo --env`` exports."""
    found = dict(re.findall(r"^export (CONNECTPSP_\w+)=(\S+)$", printed, re.M))
    assert set(found) == {
        "CONNECTPSP_CLIENT_ID",
        "CONNECTPSP_CLIENT_SECRET",
        "CONNECTPSP_CRYPTO_TOKEN",
        "CONNECTPSP_APPLICATION_TOKEN",
        "CONNECTPSP_WEBHOOK_SECRET",
    }, printed
    return found


def test_demo_creates_the_client_once(env: dict[str, str]) -> None:
    first = cli(env, "demo").stdout
    assert "created the demo client with R$ 10000.00" in first
    second = cli(env, "demo").stdout
    assert "created the demo client" not in second
    [saved] = demo_files(env)
    creds = json.loads(saved.read_text())
    for text in (first, second):
        assert creds["clientSecret"] in text and str(saved) in text
        assert "openssl dgst -sha256 -hmac" in text and "/cash-out" in text
    assert saved.stat().st_mode & 0o777 == 0o600
    assert "R$ 10.000,00" in cli(env, "clients", "list").stdout
    # --env: the same client, as export lines only (nothing else on stdout, for eval)
    only = cli(env, "demo", "--env")
    assert exported(only.stdout)["CONNECTPSP_CLIENT_ID"] == creds["clientId"]
    assert len(only.stdout.strip().splitlines()) == 5


def test_each_database_keeps_its_own_demo_client(env: dict[str, str], tmp_path: Path) -> None:
    """Issue 18: switching databases overwrote the one demo-client.json, and switching
    back created a second demo client."""
    # Two fresh databases (the module's has other tests' demo clients), one var/.
    env, other = (
        {**env, "CONNECTPSP_DATABASE_URL": f"sqlite:///{tmp_path / name}"}
        for name in ("one.db", "other.db")
    )
    for each in (env, other):
        each.pop("CONNECTPSP_DATABASE_SCHEMA", None)
    first = exported(cli(env, "demo", "--env").stdout)
    second = exported(cli(other, "demo", "--env").stdout)
    assert second["CONNECTPSP_CLIENT_ID"] != first["CONNECTPSP_CLIENT_ID"]
    back = cli(env, "demo", "--env")
    assert exported(back.stdout) == first and "created" not in back.stderr
    assert len(demo_files(env)) == 2
    for each in (env, other):
        assert cli(each, "clients", "list").stdout.count("Demo Merchant") == 1
    # The database reset (its file gone): its saved client opens nothing, a new one is made.
    (tmp_path / "other.db").unlink()
    again = cli(other, "demo", "--env")
    assert "created the demo client" in again.stderr
    assert exported(again.stdout)["CONNECTPSP_CLIENT_ID"] not in (
        second["CONNECTPSP_CLIENT_ID"],
        first["CONNECTPSP_CLIENT_ID"],
    )
    assert "R$ 10.000,00" in cli(other, "clients", "list").stdout  # funded again


def test_the_demo_client_of_before_is_kept(env: dict[str, str], tmp_path: Path) -> None:
    """A var/demo-client.json written before the files were per database still names this
    database's demo client: it is kept, not made again."""
    first = exported(cli(env, "demo", "--env").stdout)
    [saved] = demo_files(env)
    moved = {**env, "CONNECTPSP_VAR_DIR": str(tmp_path / "var-of-before")}
    Path(moved["CONNECTPSP_VAR_DIR"]).mkdir()
    (Path(moved["CONNECTPSP_VAR_DIR"]) / "demo-client.json").write_text(saved.read_text())
    kept = cli(moved, "demo", "--env")
    assert exported(kept.stdout) == first and "created" not in kept.stderr
    assert [f.name for f in demo_files(moved)] == [saved.name]


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
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    accepted, by_code, by_reference, balance = answers
    assert accepted["status"] == "PROCESSING", result.stdout
    assert by_code["internalCode"] == by_reference["internalCode"] == accepted["internalCode"]
    assert set(balance) == {"available", "reserved", "blocked", "total"}
    assert f"export CONNECTPSP_URL=http://127.0.0.1:{port}" in commands


def test_the_printed_tour_is_the_readmes_with_its_variables_filled_in() -> None:
    """What ``make run`` prints is README.md's tour, steps 1 to 4, as written, after
    export lines that set what the README's step 0 sets: the URL and the credentials."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## A tour") :]
    section = section[: section.index("\n## ")]
    setup, *steps = re.findall(r"```sh\n(.*?)```", section, re.S)
    creds = {
        "clientId": "c0ffee00-0000-4000-8000-000000000001",
        "clientSecret": "cs_secret",
        "cryptoToken": "ct_crypto",
        "applicationToken": "at_application",
        "webhookSecret": "whsec_hook",
    }
    tour = the_tour(demo_instructions(creds, "http://127.0.0.1:8123"))
    assert 'eval "$(connectpsp demo --env)"' in setup
    for line in setup.splitlines():
        if line.startswith(("command -v", "field()")):
            assert line in tour, line
    printed = [step for step in steps if step.strip() in tour]
    assert len(printed) == 4, printed  # token, signature, cash-out by key, lookups
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", tour, re.M))
    assert exports == {
        "CONNECTPSP_URL": "http://127.0.0.1:8123",
        "CONNECTPSP_CLIENT_ID": creds["clientId"],
        "CONNECTPSP_CLIENT_SECRET": creds["clientSecret"],
        "CONNECTPSP_CRYPTO_TOKEN": creds["cryptoToken"],
        "CONNECTPSP_APPLICATION_TOKEN": creds["applicationToken"],
        "CONNECTPSP_WEBHOOK_SECRET": creds["webhookSecret"],
    }


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


# --- Hostile input and abuse (issue 13, findings 9 and 10) ---------------------------


@dataclass
class Scratch:
    """A database of the module's kind that the test owns: a SQLite file, or a PostgreSQL
    schema, which may not exist yet."""

    env: dict[str, str]
    sqlite_file: Path | None
    schema: str | None

    def tables(self) -> list[str] | None:
        """The tables it holds; None if there is no database (file or schema) at all.
        Looks without creating anything."""
        if self.sqlite_file is not None:
            if not self.sqlite_file.exists():
                return None
            lite = sqlite3.connect(f"file:{self.sqlite_file}?mode=ro", uri=True)
            try:
                rows = lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                return sorted(row[0] for row in rows)
            finally:
                lite.close()
        engine = create_engine(PG_ADMIN_URL)
        try:
            with engine.connect() as conn:
                exists = conn.exec_driver_sql(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %(s)s", {"s": self.schema}
                ).first()
                found = conn.exec_driver_sql(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %(s)s",
                    {"s": self.schema},
                ).scalars()
                return None if exists is None else sorted(found)
        finally:
            engine.dispose()

    def execute(self, sql: str) -> None:
        if self.sqlite_file is not None:
            lite = sqlite3.connect(self.sqlite_file)
            try:
                lite.executescript(sql)
            finally:
                lite.close()
            return
        engine = create_engine(PG_ADMIN_URL)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"SET LOCAL search_path = {self.schema}")
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()


@pytest.fixture(params=["missing", "empty"])
def unmigrated(
    request: pytest.FixtureRequest, env: dict[str, str], tmp_path: Path
) -> Iterator[Scratch]:
    """A database nobody migrated: missing (a SQLite path in a directory that does not
    exist, a PostgreSQL schema that does not exist), or empty (a 0-byte SQLite file, as
    earlier versions left behind, or a PostgreSQL schema with no tables)."""
    with scratch(env, tmp_path, empty=request.param == "empty") as found:
        yield found


@pytest.fixture
def fresh(env: dict[str, str], tmp_path: Path) -> Iterator[Scratch]:
    """A database of the module's kind that does not exist yet."""
    with scratch(env, tmp_path, empty=False) as found:
        yield found


@contextmanager
def scratch(env: dict[str, str], tmp_path: Path, *, empty: bool) -> Iterator[Scratch]:
    if env["CONNECTPSP_DATABASE_URL"].startswith("sqlite"):
        file = tmp_path / "scratch.db" if empty else tmp_path / "nowhere" / "dir" / "x.db"
        if empty:
            file.touch()
        yield Scratch({**env, "CONNECTPSP_DATABASE_URL": f"sqlite:///{file}"}, file, None)
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(PG_ADMIN_URL)
    try:
        if empty:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        yield Scratch({**env, "CONNECTPSP_DATABASE_SCHEMA": schema}, None, schema)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        engine.dispose()


NO_CLIENT = "00000000-0000-0000-0000-000000000000"
# Every command that must not change the schema, with arguments that are otherwise good.
READ_ONLY_COMMANDS = [
    ("clients", "list"),
    ("clients", "create", "--name", "Too Early"),
    ("sandbox", "fund", NO_CLIENT, "1.00"),
]


def test_read_only_commands_refuse_an_unmigrated_database_and_create_nothing(
    unmigrated: Scratch,
) -> None:
    before = unmigrated.tables()
    assert before in (None, [])
    for command in READ_ONLY_COMMANDS:
        result = cli(unmigrated.env, *command, check=False)
        assert_one_line_error(result, 1, "run `connectpsp migrate`")
        assert unmigrated.tables() == before, command  # no file, schema or table appeared
    if unmigrated.sqlite_file is not None and before is None:
        assert not unmigrated.sqlite_file.parent.exists()  # nor the mistyped directory
    # migrate creates what is missing (the directory, the schema), and then they work.
    assert "up to date" in cli(unmigrated.env, "migrate").stdout
    assert "clients" in (unmigrated.tables() or [])
    cli(unmigrated.env, "clients", "create", "--name", "In Time")
    assert "In Time" in cli(unmigrated.env, "clients", "list").stdout


def test_a_database_at_another_revision_is_refused_by_read_only_commands(
    fresh: Scratch,
) -> None:
    cli(fresh.env, "migrate")
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    assert head is not None
    previous = scripts.get_revision(head).down_revision
    assert isinstance(previous, str)
    fresh.execute(f"UPDATE alembic_version SET version_num = '{previous}'")
    older = cli(fresh.env, "clients", "list", check=False)
    assert_one_line_error(older, 1, f"older schema (revision {previous};", "connectpsp migrate")
    fresh.execute("UPDATE alembic_version SET version_num = 'from_the_future'")
    newer = cli(fresh.env, "clients", "list", check=False)
    assert_one_line_error(newer, 1, "revision from_the_future", "does not know")


# A bad argument and what the one line says about it.
BAD_CLIENT_ARGUMENTS = [
    (["--name", "Negative", "--fee-bps", "-5"], "--fee-bps must be between 0 and 10000"),
    (["--name", "Greedy", "--fee-bps", "10001"], "--fee-bps must be between 0 and 10000"),
    (["--name", "Refund", "--fee-fixed", "-0.50"], "--fee-fixed must be a decimal number"),
    (["--name", "Tiny", "--daily-limit", "0.001"], "--daily-limit must have at most 2"),
    (["--name", ""], "--name must not be empty"),
    (["--name", "   "], "--name must not be empty"),
    (["--name", "x" * 121], "--name must be at most 120 characters"),
    (["--name", "Bell\x07"], "--name must not contain control characters"),
    (["--name", "Invoice\u202etxt.exe"], "--name must not contain control characters"),
]


def test_bad_client_arguments_are_one_line_before_the_database_is_touched(
    env: dict[str, str], fresh: Scratch
) -> None:
    """On a migrated database nothing is written and nothing secret is printed (a negative
    fee used to end in a traceback with the new client's argon2 hash and ciphertexts); on
    a database that does not exist yet, the argument is still what is reported."""
    listed = cli(env, "clients", "list").stdout
    for arguments, says in BAD_CLIENT_ARGUMENTS:
        result = cli(env, "clients", "create", *arguments, check=False)
        line = assert_one_line_error(result, 2, says)
        assert "$argon2" not in line and "v1." not in line
        early = cli(fresh.env, "clients", "create", *arguments, check=False)
        assert_one_line_error(early, 2, says)
        assert fresh.tables() is None
    assert cli(env, "clients", "list").stdout == listed
    both = cli(env, "clients", "create", "--name", " ", "--fee-bps", "-1", check=False)
    assert_one_line_error(both, 2, "--fee-bps must be", "; --name must not be empty")


# Make the database refuse every new client, as a constraint added behind our back would.
REFUSE_CLIENTS = {
    "sqlite": "CREATE TRIGGER refuse BEFORE INSERT ON clients "
    "BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    "postgres": "ALTER TABLE clients ADD CONSTRAINT refuse CHECK (false) NOT VALID",
}


def test_a_statement_the_database_refuses_prints_no_secret(fresh: Scratch) -> None:
    """A database error's text holds the statement's parameters (here the new client's
    argon2 hash and encrypted tokens): only its type and code are printed."""
    cli(fresh.env, "migrate")
    fresh.execute(REFUSE_CLIENTS["sqlite" if fresh.sqlite_file else "postgres"])
    result = cli(fresh.env, "clients", "create", "--name", "Refused Merchant", check=False)
    line = assert_one_line_error(result, 1, "refused a statement (IntegrityError")
    for leak in ("$argon2", "v1.", "INSERT", "Refused Merchant", "Traceback"):
        assert leak not in line


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = {
        **os.environ,
        "CONNECTPSP_DATABASE_URL": f"postgresql://psp:hunter2-secret@127.0.0.1:{port}/psp",
        "CONNECTPSP_VAR_DIR": str(tmp_path / "var"),
    }
    for command in (["migrate"], ["clients", "list"], ["worker"], ["serve", "--port", "0"]):
        result = cli(env, *command, check=False)
        line = assert_one_line_error(
            result,
            1,
            f"cannot connect to the database at postgresql+psycopg://psp:***@127.0.0.1:{port}/psp",
        )
        assert "hunter2" not in line


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_and_postgresql_urls_are_accepted(scheme: str, tmp_path: Path) -> None:
    assert PG_ADMIN_URL.startswith("postgresql+psycopg://")
    with pg_schema() as schema:
        env = {
            **os.environ,
            "CONNECTPSP_DATABASE_URL": PG_ADMIN_URL.replace("postgresql+psycopg", scheme, 1),
            "CONNECTPSP_DATABASE_SCHEMA": schema,
            "CONNECTPSP_VAR_DIR": str(tmp_path / "var"),
        }
        assert "up to date" in cli(env, "migrate").stdout
        cli(env, "clients", "create", "--name", f"Via {scheme}")
        assert f"Via {scheme}" in cli(env, "clients", "list").stdout


def test_an_unsupported_database_url_names_the_accepted_forms(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CONNECTPSP_DATABASE_URL": "mysql://psp:hunter2-secret@127.0.0.1/psp",
        "CONNECTPSP_VAR_DIR": str(tmp_path / "var"),
    }
    result = cli(env, "clients", "list", check=False)
    line = assert_one_line_error(
        result, 2, "sqlite:///", "postgresql+psycopg://", "postgresql://", "postgres://"
    )
    assert "hunter2" not in line
