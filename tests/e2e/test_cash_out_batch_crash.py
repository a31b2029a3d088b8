"""``kill -9`` of a real ``connectpsp serve`` process while it decides a batch of 1,000
cash-outs, on SQLite and PostgreSQL. The client then sends the same batch again with the
same key, as the SDK does after a lost answer, to a server still up on the database, and
gets either the committed answer replayed (the kill came after the commit) or a first
decision of every item (nothing was committed). Some rounds are killed at a random
moment, the others as soon as the batch's commit is seen (between the commit and the
answer, when the window allows): a retry after a commit that was seen is a replay.
Either way no accepted item is lost and nothing moves twice: every item an answer
accepted is there once, with one settlement job, nothing else is, the balance reserves
exactly the accepted amounts, and the ledger and the fraud checks' tallies hold.
(Settling after a worker's kill -9 is test_worker_processes.py's.)"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from connectpsp.adapters.storage import schema as t
from connectpsp.bootstrap import Container, build
from connectpsp.service.cashouts import SETTLE_TOPIC
from connectpsp.settings import Settings
from tests.invariants import ledger_problems, risk_problems
from tests.support import Api, FakeClock, RunningServer, cash_out_body, free_port, process_env

# Tens of seconds: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow

ITEMS = 1000
# The first round is not killed: it times a batch. Then the odd rounds are killed at a
# random moment, the even ones as soon as their first item is seen committed.
ROUNDS = 9


def batch_of(round_: int) -> list[dict[str, Any]]:
    """1,000 items of R$ 0,01 to R$ 0,20, and a reference used twice (one 409)."""
    items = [
        cash_out_body(amount=f"0.{1 + i % 20:02d}", reference=f"r{round_}-{i}")
        for i in range(ITEMS - 1)
    ]
    return [*items, cash_out_body(amount="0.01", reference=f"r{round_}-0")]


def post_until_answered(m: Api, port: int, key: str, body: dict[str, Any]) -> httpx.Response:
    """Send again with the same key until a definite answer."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                reply = http.post("/cash-out/batch", json=body, headers=m.headers(key=key))
            if reply.status_code == 200:
                return reply
            assert reply.status_code in (409, 503), reply.text  # in flight, or starting
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "no answer to the batch"
        time.sleep(0.05)


def wait_committed(container: Container, reference: str, deadline: float) -> bool:
    """Whether the cash-out holding ``reference`` was committed by ``deadline``; True as
    soon as it is, so a kill then lands between the commit and the answer, or just
    after the answer."""
    c = t.cash_outs.c
    query = select(func.count()).where(c.external_reference == reference)
    while time.monotonic() < deadline:
        with container.db.transaction(write=False) as tx:
            if tx.conn.execute(query).scalar_one():
                return True
        time.sleep(0.001)
    return False


def committed(container: Container, client_id: str) -> dict[str, tuple[str, int, int]]:
    """externalReference: (internalCode, amount, settlement jobs) of each cash-out."""
    c, o = t.cash_outs.c, t.outbox.c
    with container.db.transaction(write=False) as tx:
        rows = tx.conn.execute(
            select(c.id, c.external_reference, c.internal_code, c.amount).where(
                c.client_id == client_id
            )
        ).all()
        jobs: dict[str, int] = dict(
            tx.conn.execute(
                select(o.ref, func.count()).where(o.topic == SETTLE_TOPIC).group_by(o.ref)
            ).all()
        )
    return {
        row.external_reference: (row.internal_code, row.amount, jobs.get(row.id, 0)) for row in rows
    }


def check(container: Container, m: Api, answers: dict[int, httpx.Response], funded: int) -> None:
    accepted: dict[str, tuple[str, int]] = {}
    refused: set[str] = set()
    for round_, reply in answers.items():
        items = batch_of(round_)
        for item, result in zip(items, reply.json()["results"], strict=True):
            reference = item["externalReference"]
            if result["status"] == 202:
                cents = int(item["amount"].replace(".", ""))
                accepted[reference] = (result["cashOut"]["internalCode"], cents)
            else:
                assert result["error"]["code"] in (
                    "INSUFFICIENT_BALANCE",
                    "DUPLICATE_EXTERNAL_REFERENCE",
                ), result
                refused.add(reference)
    stored = committed(container, m.creds.client_id)
    assert {ref: (code, amount) for ref, (code, amount, _) in stored.items()} == accepted
    assert all(jobs == 1 for _, _, jobs in stored.values()), "a settlement job lost or doubled"
    reserved = sum(amount for _, amount in accepted.values())
    balance = container.clients.balance(m.creds.client_id)
    assert (balance.reserved, balance.total) == (reserved, funded)
    assert ledger_problems(container.db) == []
    assert risk_problems(container.db, [m.creds.client_id]) == []


def spawn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "connectpsp", "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def wait_up(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the API did not come up"
        time.sleep(0.05)


def test_kill_9_mid_batch_loses_nothing_and_moves_nothing_twice(
    db_settings: Settings, tmp_path: Path, figures: Callable[..., None]
) -> None:
    container = build(db_settings, clock=FakeClock())
    funded = 500_00  # about five rounds' worth: the later rounds meet refusals too
    creds = container.clients.create("batch-crash")
    container.clients.fund(creds.client_id, funded)
    env = process_env(db_settings)
    # Two API processes on the database: each round's batch goes to one, killed while
    # deciding it; the same batch is sent again to the other, while the killed one is
    # started again (a restart takes seconds on a busy machine).
    ports = [free_port(), free_port()]
    logs = [tmp_path / "api-0.log", tmp_path / "api-1.log"]
    procs = [spawn(env, port, log) for port, log in zip(ports, logs, strict=True)]
    m = Api(RunningServer(container, f"http://127.0.0.1:{ports[0]}", FakeClock()), creds)
    rng = random.Random(20261205)
    answers: dict[int, httpx.Response] = {}
    outcomes: list[str] = []
    try:
        for proc, port, log in zip(procs, ports, logs, strict=True):
            wait_up(proc, port, log)
        started = time.monotonic()
        answers[0] = post_until_answered(m, ports[0], str(uuid.uuid4()), {"items": batch_of(0)})
        took = time.monotonic() - started  # one batch's time, to aim the kills
        for round_ in range(1, ROUNDS):
            target, other = round_ % 2, 1 - round_ % 2
            wait_up(procs[target], ports[target], logs[target])
            key, body = str(uuid.uuid4()), {"items": batch_of(round_)}
            headers = m.headers(key=key)  # a token before the clock starts
            first: list[httpx.Response] = []

            def send(
                port: int = ports[target],
                body: dict[str, Any] = body,
                headers: dict[str, str] = headers,
                first: list[httpx.Response] = first,
            ) -> None:
                try:
                    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                        first.append(http.post("/cash-out/batch", json=body, headers=headers))
                except httpx.TransportError:
                    pass  # killed before it answered

            sender = threading.Thread(target=send)
            sender.start()
            seen = False
            if round_ % 2:
                time.sleep(rng.uniform(0.1, 1.2) * took)  # any moment of the batch
            else:
                deadline = time.monotonic() + 3 * took
                seen = wait_committed(container, f"r{round_}-0", deadline)
            procs[target].send_signal(signal.SIGKILL)
            procs[target].wait()
            sender.join()
            logs[target] = tmp_path / f"api-{target}-{round_}.log"
            procs[target] = spawn(env, ports[target], logs[target])
            again = post_until_answered(m, ports[other], key, body)
            replayed = again.headers.get("idempotent-replayed") == "true"
            if first and first[0].status_code == 200:
                assert replayed and again.content == first[0].content
                outcomes.append("answered")
            else:  # committed before the kill, or nothing was
                outcomes.append("committed" if replayed else "decided again")
            # Killed after its commit was seen: the retry can only be a replay.
            assert replayed or not seen, f"round {round_}: committed, then decided again"
            answers[round_] = again
        # Some kills landed before the answer (before the commit, or between the two).
        assert outcomes.count("answered") < len(outcomes), outcomes
        check(container, m, answers, funded)
        figures(outcomes=outcomes, batch_seconds=round(took, 3))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        m.close()
        container.close()
