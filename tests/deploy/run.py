"""``make test-deploy``: build the image, bring compose.yaml's stack up (PostgreSQL, a
migration, the API, two workers), run README.md's tour against it, SIGKILL a worker
container while it settles, and check that nothing is lost: every accepted cash-out ends
COMPLETED or FAILED, and the ledger's invariants (tests/invariants.py) hold.

What the tour run changes, and nothing else: ``connectpsp`` (step 0's ``connectpsp demo
--env``) runs in the API's container, through ``docker compose exec``; and the blocks run
in the API container's network namespace (nsenter, so as root), where 127.0.0.1:8000 is
the API and the workers deliver webhooks to the receiver's 127.0.0.1:8080
(tests/deploy/compose.test.yaml). Artifacts (the compose logs on failure, the tour's
scratch directory) go to $TEST_DEPLOY_DIR, /var/tmp/connectpsp-test-deploy by default;
KEEP=1 leaves the stack up."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import select

from connectpsp import ConnectPSP, Payee, PixKey
from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from tests.deploy.stack import ROOT, Stack, sh, start_engine, stop_engine
from tests.e2e.test_readme_tour import blocks, json_lines, tour_section
from tests.invariants import cash_in_problems, ledger_problems, settlement_problems
from tests.support import free_port

PROJECT = "connectpsp-test-deploy"
WORKERS = 2
CASH_OUTS = 100  # after the tour's, sent while a worker is killed
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def main() -> int:
    artifacts = Path(os.environ.get("TEST_DEPLOY_DIR", "/var/tmp/connectpsp-test-deploy"))
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    engine = start_engine()
    version = sh("docker", "version", "--format", "{{.Server.Version}}").strip()
    say(f"engine: dockerd {version}" + (" (started by this run)" if engine else ""))
    stack: Stack | None = None
    try:
        stack = bring_up(artifacts)
        tour(stack, artifacts)
        kill_a_worker(stack)
        backups(stack, artifacts)
        say("test-deploy: passed")
        return 0
    except BaseException:
        if stack is not None:
            (artifacts / "compose.log").write_text(stack.logs())
            say(f"test-deploy: FAILED; the containers' logs are in {artifacts}/compose.log")
        raise
    finally:
        if stack is not None and not os.environ.get("KEEP"):
            stack.down()
        if engine and not os.environ.get("KEEP"):
            stop_engine(engine)


def bring_up(artifacts: Path) -> Stack:
    began = time.monotonic()
    out = sh("bash", "deploy/build-image.sh")
    size = out.strip().splitlines()[-1].split()[-1]
    for line in re.findall(r"^(?:make|base) image: .*$", out, re.M):
        say(line)
    say(f"make image: connectpsp:latest, {size}, in {time.monotonic() - began:.0f} s")
    (artifacts / "make-image.out").write_text(out)
    began = time.monotonic()
    db = subprocess.run(["bash", "deploy/db-image.sh"], cwd=ROOT, capture_output=True, text=True)
    assert db.returncode == 0, db.stdout + db.stderr
    for line in re.findall(r"^db image: .*$", db.stderr, re.M):
        say(line)
    db_image = db.stdout.split()[-1]
    say(f"db image: {db_image}, in {time.monotonic() - began:.0f} s")
    stack = Stack(
        PROJECT,
        {
            "CONNECTPSP_IMAGE": "connectpsp:latest",
            "POSTGRES_IMAGE": db_image,
            "POSTGRES_PASSWORD": secrets.token_hex(16),
            "CONNECTPSP_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "CONNECTPSP_PORT": str(free_port()),
            "TEST_DB_PORT": str(free_port()),
            "CONNECTPSP_SANDBOX_LATENCY_MS": "500",
            "CONNECTPSP_JOB_LEASE_SECONDS": "3",
        },
    )
    say(f"compose: {' '.join(stack.base)} {sh(*stack.base, 'version', '--short').strip()}")
    stack.down()
    began = time.monotonic()
    stack.up(WORKERS)
    [api] = stack.containers("api")
    port = stack.variables["CONNECTPSP_PORT"]
    deadline = time.monotonic() + 120
    while stack.state(api).get("Health", {}).get("Status") != "healthy":
        assert time.monotonic() < deadline, "the API's container never became healthy"
        time.sleep(0.5)
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    say(
        f"compose up: db healthy, migrate exited 0, api healthy, {WORKERS} workers, "
        f"in {time.monotonic() - began:.0f} s; GET /readyz on 127.0.0.1:{port}: "
        f"{ready.status_code} {ready.text}"
    )
    user = sh("docker", "exec", api, "id", "-un").strip()
    say(f"api runs as {user!r}; {restarts(stack)}")
    return stack


def restarts(stack: Stack) -> str:
    counts = {}
    for service in ("api", "worker"):
        for container in stack.containers(service):
            name = str(stack.inspect(container)["Name"]).lstrip("/")
            counts[name] = stack.inspect(container)["RestartCount"]
    return "restarts: " + ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


def tour(stack: Stack, artifacts: Path) -> None:
    section = tour_section()
    shell = blocks(section, "sh")
    scratch = artifacts / "reader"
    scratch.mkdir()
    (scratch / ".venv").symlink_to(ROOT / ".venv")
    for script in blocks(section, "python"):
        name = re.match(r"# (\w+\.py):", script)
        assert name, script[:60]
        (scratch / name.group(1)).write_text(script)
    in_container = shlex.join([*stack.command, "exec", "-T", "api", "connectpsp"])
    script = "\n".join(
        [
            "trap 'kill $(jobs -p) 2>/dev/null' EXIT",
            f'connectpsp() {{ {in_container} "$@"; }}',
            *shell,
        ]
    )
    [api] = stack.containers("api")
    pid = stack.state(api)["Pid"]
    began = time.monotonic()
    result = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "bash", "-c", script],
        cwd=scratch,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    (artifacts / "tour.out").write_text(result.stdout + "\n--- stderr\n" + result.stderr)
    assert result.returncode == 0, result.stderr + result.stdout
    check_tour(result.stdout, result.stderr)
    say(
        f"README tour: {len(shell)} shell blocks, send.py and receiver.py, "
        f"in {time.monotonic() - began:.0f} s:"
    )
    for line in result.stdout.splitlines():
        if not line.startswith("{"):
            print(f"    {line}")
    print(f"    (and {len(json_lines(result.stdout))} JSON answers, checked)")


def check_tour(stdout: str, stderr: str) -> None:
    """As tests/e2e/test_readme_tour.py checks the tour against ``make run``."""
    by_key, by_account, status, found, balance, charge, paid, completed, final = json_lines(stdout)
    assert by_key["status"] == by_account["status"] == "PROCESSING"
    assert status["internalCode"] == found["internalCode"] == by_key["internalCode"]
    assert set(balance) == {"available", "reserved", "blocked", "total"}
    assert charge["status"] == "ACTIVE" and "127.0.0.1:8000/qr/" in charge["brCode"]
    assert paid["endToEndId"].startswith("E")
    assert completed["status"] == "COMPLETED"
    assert final["available"] == 9925.00  # 10,000.00 - 2 x 50.00 + 25.00
    sent = re.findall(r"^([A-Z]{10}) (\w+) (E\w+)$", stdout, re.M)
    assert [status for _, status, _ in sent] == ["COMPLETED", "COMPLETED"], stdout
    assert re.search(r"^available 9825\.00$", stdout, re.M), stdout
    assert f"verified CashOutCompleted {sent[0][0]}" in stdout, stdout
    assert "Traceback" not in stderr, stderr


def kill_a_worker(stack: Stack) -> None:
    v = stack.variables
    db = Database(
        f"postgresql+psycopg://connectpsp:{v['POSTGRES_PASSWORD']}@127.0.0.1:{v['TEST_DB_PORT']}"
        "/connectpsp",
        pool_size=1,
    )
    try:
        creds = json.loads(stack.cli("clients", "create", "--name", "deploy-check", "--json"))
        stack.cli("sandbox", "fund", creds["clientId"], "100000.00")
        url = f"http://127.0.0.1:{v['CONNECTPSP_PORT']}"
        # The other workers are frozen until the kill: the jobs claimed then are surely the
        # victim's, and must be taken over by them once its lease runs out.
        victim, *others = stack.containers("worker")
        name = str(stack.inspect(victim)["Name"]).lstrip("/")
        for other in others:
            sh("docker", "pause", other)
        with ThreadPoolExecutor(1) as pool:  # the kill lands while cash-outs still arrive
            sending = pool.submit(send_cash_outs, url, creds)
            deadline = time.monotonic() + 30
            while len(held := claimed(db)) < 2:
                assert time.monotonic() < deadline, "settlement jobs were never claimed"
                if sending.done():
                    sending.result()  # its error, if it failed
                    raise AssertionError("every cash-out was sent before 2 jobs were claimed")
                time.sleep(0.02)
            sh("docker", "kill", "--signal", "KILL", victim)
            killed_at = time.monotonic()
            for other in others:
                sh("docker", "unpause", other)
            say(f"SIGKILLed {name} while it held {len(held)} settlement jobs")
            codes = sending.result()
        say(f"accepted {len(codes)} cash-outs; {processing(db)} still PROCESSING")
        deadline = time.monotonic() + 180
        while (left := processing(db)) > 0:
            assert time.monotonic() < deadline, f"{left} cash-outs still PROCESSING"
            time.sleep(0.5)
        say(f"the other worker finished them {time.monotonic() - killed_at:.1f} s after the kill")
        check_nothing_lost(db, codes, held)
        state = stack.state(victim)
        say(
            f"{restarts(stack)}; the killed one: {state.get('Status')}, exit {state.get('ExitCode')}"
        )
    finally:
        db.dispose()


# docs/sandbox.md's keys: one that settles, one refused by the payee's bank (AC03), one
# whose first answer from SPI is lost (the worker must ask again, not pay twice).
PAYEES = (
    Payee("Maria Silva", "12345678909", PixKey("CPF", "12345678909")),
    Payee("Maria Silva", "12345678909", PixKey("EMAIL", "ac03@sandbox.connectpsp.dev")),
    Payee("Maria Silva", "12345678909", PixKey("EMAIL", "lost.response@sandbox.connectpsp.dev")),
)
REFUSED = sum(i % len(PAYEES) == 1 for i in range(CASH_OUTS))


def send_cash_outs(url: str, creds: dict[str, str]) -> list[str]:
    run = secrets.token_hex(4)
    with ConnectPSP(
        url,
        creds["clientId"],
        creds["clientSecret"],
        creds["cryptoToken"],
        creds["applicationToken"],
    ) as psp:
        return [
            psp.cash_outs.create(
                "10.00", f"deploy-{run}-{i}", PAYEES[i % len(PAYEES)]
            ).internal_code
            for i in range(CASH_OUTS)
        ]


def claimed(db: Database) -> list[int]:
    """Settlement jobs claimed and neither finished nor put back."""
    o = t.outbox.c
    with db.transaction(write=False) as tx:
        return list(
            tx.conn.execute(
                select(o.id).where(o.done_at.is_(None), o.locked_until.is_not(None))
            ).scalars()
        )


def processing(db: Database) -> int:
    c = t.cash_outs.c
    with db.transaction(write=False) as tx:
        return len(
            tx.conn.execute(select(c.id).where(c.status.not_in(("COMPLETED", "FAILED")))).all()
        )


def backups(stack: Stack, artifacts: Path) -> None:
    """docs/deploy.md's backup commands, as written there: pg_dump and pg_restore in the db
    container, SQLite's online backup in the image; and `docker compose run --rm migrate`,
    the upgrade step, on the migrated database."""
    dump = artifacts / "connectpsp.dump"
    with dump.open("wb") as out:
        subprocess.run(
            [
                *stack.command,
                "exec",
                "-T",
                "db",
                "pg_dump",
                "--username=connectpsp",
                "--format=custom",
                "connectpsp",
            ],
            env=stack.env,
            stdout=out,
            check=True,
        )
    stack.run("exec", "-T", "db", "createdb", "--username=connectpsp", "restored")
    with dump.open("rb") as dumped:
        subprocess.run(
            [
                *stack.command,
                "exec",
                "-T",
                "db",
                "pg_restore",
                "--username=connectpsp",
                "--dbname=restored",
                "--no-owner",
            ],
            env=stack.env,
            stdin=dumped,
            check=True,
        )
    count = "SELECT count(*) FROM cash_outs WHERE status IN ('COMPLETED', 'FAILED')"
    counts = [
        stack.run(
            "exec",
            "-T",
            "db",
            "psql",
            "--username=connectpsp",
            f"--dbname={db}",
            "--tuples-only",
            "--no-align",
            f"--command={count}",
        ).strip()
        for db in ("connectpsp", "restored")
    ]
    assert counts[0] == counts[1] != "0", counts
    say(
        f"pg_dump: {dump.stat().st_size} bytes; restored into a new database: "
        f"{counts[1]} cash-outs, as in the live one"
    )
    sqlite = sh(
        "docker",
        "run",
        "--rm",
        "--env",
        f"CONNECTPSP_MASTER_KEY={stack.variables['CONNECTPSP_MASTER_KEY']}",
        "--entrypoint",
        "sh",
        stack.variables["CONNECTPSP_IMAGE"],
        "-c",
        "connectpsp migrate && " + SQLITE_BACKUP + " && ls /var/lib/connectpsp",
    )
    assert "backup.db" in sqlite and "connectpsp.db" in sqlite, sqlite
    assert SQLITE_BACKUP in (ROOT / "docs/deploy.md").read_text()
    say(
        "SQLite in the image (its default URL, as its user): migrated, backed up online: "
        + " ".join(sqlite.split())
    )
    say(f"docker compose run --rm migrate: {stack.run('run', '--rm', 'migrate').strip()}")


# docs/deploy.md's command, verbatim.
SQLITE_BACKUP = """python3 -c 'import sqlite3; src = sqlite3.connect("/var/lib/connectpsp/connectpsp.db"); dst = sqlite3.connect("/var/lib/connectpsp/backup.db"); src.backup(dst); dst.close()'"""


def check_nothing_lost(db: Database, codes: list[str], held: list[int]) -> None:
    c, o = t.cash_outs.c, t.outbox.c
    with db.transaction(write=False) as tx:
        rows = tx.conn.execute(select(c.id, c.internal_code, c.status)).all()
        jobs = tx.conn.execute(select(o.id, o.attempts, o.done_at).where(o.id.in_(held))).all()
    assert set(codes) <= {r.internal_code for r in rows}, "accepted cash-outs are missing"
    # The victim's jobs: claimed again (after its lease ran out) and finished.
    assert len(jobs) == len(held) and all(j.done_at and j.attempts >= 2 for j in jobs), jobs
    ids = [r.id for r in rows]
    problems = settlement_problems(db, ids) + ledger_problems(db) + cash_in_problems(db)
    assert problems == [], problems
    statuses = Counter(r.status for r in rows)
    assert statuses["FAILED"] == REFUSED, statuses  # the tour's cash-outs all complete
    say(
        f"nothing lost: all {len(ids)} cash-outs terminal ({dict(statuses)}); the "
        f"{len(held)} jobs the killed worker held were claimed again and finished; "
        "settlement, ledger and cash-in invariants hold"
    )


if __name__ == "__main__":
    sys.exit(main())
