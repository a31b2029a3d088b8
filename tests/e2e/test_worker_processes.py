"""Real ``connectpsp worker`` processes: killed with SIGKILL at random moments and
restarted, and two at once on one PostgreSQL database. Afterwards every accepted
cash-out is terminal, the rail was asked to pay each at most once, and the ledger holds."""

from __future__ import annotations

import base64
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectpsp.adapters.storage import schema as t
from connectpsp.bootstrap import Container, build
from connectpsp.domain.cashout import (
    BankAccount,
    CashOutRequest,
    Payee,
    PixDestination,
)
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.service.acceptance import Accepted
from connectpsp.service.cashouts import SETTLE_TOPIC
from connectpsp.settings import Settings
from tests.invariants import ledger_problems, settlement_problems
from tests.support import FakeClock

# Tens of seconds: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow

DESTINATIONS: list[PixDestination | BankAccount] = [
    PixDestination(PixKeyType.CPF, "12345678909"),
    PixDestination(PixKeyType.EMAIL, "maria.silva@sandbox.connectpsp.dev"),
    PixDestination(PixKeyType.EMAIL, "nobody@sandbox.connectpsp.dev"),  # not found
    PixDestination(PixKeyType.EMAIL, "other.owner@sandbox.connectpsp.dev"),  # mismatch
    BankAccount("18236120", "0001", "947710840", AccountType.PAYMENT),
    BankAccount("18236120", "0001", "9901", AccountType.CHECKING),  # AC03
    BankAccount("18236120", "0001", "9913", AccountType.CHECKING),  # ED05
    BankAccount("18236120", "0001", "9999", AccountType.CHECKING),  # lost answer
]


def accept_many(container: Container, count: int) -> list[str]:
    clients = []
    for _ in range(4):
        creds = container.clients.create("load", fee_plan=FeePlan(fixed=1))
        container.clients.fund(creds.client_id, 10_000_000_00)
        clients.append(container.clients.get(creds.client_id))
    ids = []
    for i in range(count):
        client = clients[i % len(clients)]
        request = CashOutRequest(
            amount=100 + i,
            external_reference=f"load-{uuid.uuid4().hex}",
            description=None,
            webhook_url=None,
            payee=Payee("Maria Silva", "12345678909", DESTINATIONS[i % len(DESTINATIONS)]),
        )
        reply = container.cash_outs.create(client, str(uuid.uuid4()), request)
        assert isinstance(reply.outcome, Accepted)
        with container.uow() as uow:
            found = uow.cash_outs.by_external_reference(client.id, request.external_reference)
        assert found is not None
        ids.append(found.id)
    return ids


def worker_env(settings: Settings, latency_ms: int = 0) -> dict[str, str]:
    env = {
        **os.environ,
        "CONNECTPSP_DATABASE_URL": settings.database_url,
        "CONNECTPSP_MASTER_KEY": base64.urlsafe_b64encode(settings.master_key).decode(),
        "CONNECTPSP_VAR_DIR": str(settings.var_dir),
        "CONNECTPSP_SANDBOX_LATENCY_MS": str(latency_ms),
        "CONNECTPSP_WORKER_POLL_MS": "20",
        # A killed worker's claimed jobs come back after this; short, to keep the test short.
        "CONNECTPSP_JOB_LEASE_SECONDS": "3",
    }
    if settings.database_schema:
        env["CONNECTPSP_DATABASE_SCHEMA"] = settings.database_schema
    return env


def start_worker(env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "connectpsp", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb") if log else subprocess.DEVNULL,
    )


def processing(container: Container, ids: list[str]) -> int:
    with container.db.transaction(write=False) as tx:
        c = t.cash_outs.c
        return int(
            tx.conn.execute(
                select(func.count()).where(c.id.in_(ids), c.status == "PROCESSING")
            ).scalar_one()
        )


def wait_drained(container: Container, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while processing(container, ids):
        assert time.monotonic() < deadline, f"{processing(container, ids)} still PROCESSING"
        time.sleep(0.2)


def wait_started(proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while b"worker_started" not in log.read_bytes():
        assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
        time.sleep(0.01)


def stop_gracefully(proc: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM a running worker: it finishes the job in hand and exits 0."""
    wait_started(proc, log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert b"worker_stopped" in log.read_bytes()


def test_kill_9_at_random_moments(db_settings: Settings, tmp_path: Path) -> None:
    settings = replace(db_settings, sandbox_latency_ms=0)
    container = build(settings, clock=FakeClock())
    # Work enough, at 200 ms of SPI latency, that several kills land while some is done
    # and some is left: a worker claims 128 jobs at a time, and what a killed one claimed
    # waits out its lease (3 s), so each restart must find work no dead worker holds. A
    # worker that drains it all before three such kills gets more (settlement in bulk
    # settles well over a thousand a second here).
    ids = accept_many(container, 2_400)
    env = worker_env(settings, latency_ms=200)
    rng = random.Random(20261123)
    kills_mid_run = 0
    deadline = time.monotonic() + 240
    # Kill while work remains; each restart must pick up wherever the last one died.
    while kills_mid_run < 8 and time.monotonic() < deadline:
        before = processing(container, ids)
        if not before:
            if kills_mid_run >= 3:
                break
            # Settlement outran the kills (a fast machine, a lucky draw): more work.
            ids += accept_many(container, 2_400)
            before = processing(container, ids)
        log = tmp_path / f"killed-{kills_mid_run}-{rng.random():.6f}.log"
        proc = start_worker(env, log)
        # A random moment of its work, whatever its start-up took on a busy machine.
        wait_started(proc, log)
        time.sleep(rng.uniform(0.05, 0.7))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = processing(container, ids)
        kills_mid_run += 0 < after < before  # it had made progress and had work left
    assert kills_mid_run >= 3, "too few kills landed mid-run; make the run longer"
    survivor = start_worker(env, tmp_path / "survivor.log")
    try:
        wait_drained(container, ids, timeout=120)
    finally:
        stop_gracefully(survivor, tmp_path / "survivor.log")
    assert settlement_problems(container.db, ids) == []
    assert ledger_problems(container.db) == []
    container.close()


@pytest.mark.postgres
def test_two_workers_share_one_postgres(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.support import database

    with database("postgres", tmp_path_factory.mktemp("scale")) as settings:
        container = build(settings, clock=FakeClock())
        ids = accept_many(container, 500)
        env = worker_env(settings)
        tmp = tmp_path_factory.mktemp("logs")
        logs = [tmp / "w1.log", tmp / "w2.log"]
        workers = [start_worker(env, log) for log in logs]
        try:
            wait_drained(container, ids, timeout=180)
        finally:
            for worker, log in zip(workers, logs, strict=True):
                stop_gracefully(worker, log)
        assert settlement_problems(container.db, ids) == []
        assert ledger_problems(container.db) == []
        with container.db.transaction(write=False) as tx:
            o = t.outbox.c
            claims = tx.conn.execute(
                select(o.ref, o.attempts).where(o.topic == SETTLE_TOPIC, o.ref.in_(ids))
            ).all()
        # A job deferred on purpose (the lost rail answer) is claimed again later; every
        # other job was claimed exactly once, by one of the two workers.
        lost = {i for n, i in enumerate(ids) if n % len(DESTINATIONS) == 7}
        assert {ref: n for ref, n in claims if ref not in lost and n != 1} == {}
        container.close()
