"""Crash loop (Jepsen's bank workload, with kill -9): a real API process
(``connectpsp serve --no-worker``) and a real ``connectpsp worker`` run on one database
while a load generator sends cash-outs over HTTP. At random moments the API, the worker
or both are killed with SIGKILL and started again. After each iteration the load pauses,
the worker drains, and the run is checked against the client's own log of acknowledged
(202) requests:

- none lost: every acknowledged cash-out exists, with the amount the client sent;
- none paid twice: the rail was asked to pay each at most once, each reservation was
  posted or voided exactly once (``tests.invariants``);
- all terminal after draining, and the ledger balanced with no negative balance;
- every terminal event delivered at least once to the cash-out's ``webhookUrl``.

The load behaves as a careful client (or our SDK): a request whose answer was lost to a
crash is sent again with the same idempotency key until it gets a definite answer."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from connectpsp.adapters.storage import schema as t
from connectpsp.bootstrap import Container, build
from connectpsp.service.auth import signature_for
from connectpsp.settings import Settings
from tests.invariants import ledger_problems, settlement_problems
from tests.logscan import remember_secret
from tests.receiver import Receiver, receiver
from tests.reliability.pgcluster import PrivatePostgres
from tests.support import MASTER_KEY, FakeClock, free_port, process_env

# Where each request goes, so every path runs: settled, key not found, SPI rejection,
# and a rail answer that is lost and must be reconciled.
DESTINATIONS: list[dict[str, Any]] = [
    {"type": "PIX", "pixKeyType": "CPF", "pixKey": "12345678909"},
    {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "nobody@sandbox.connectpsp.dev"},
    {
        "type": "BANK_ACCOUNT",
        "bankAccount": {
            "ispb": "18236120",
            "branch": "0001",
            "account": "9901",
            "accountType": "CHECKING",
        },
    },
    {
        "type": "BANK_ACCOUNT",
        "bankAccount": {
            "ispb": "18236120",
            "branch": "0001",
            "account": "9999",
            "accountType": "CHECKING",
        },
    },
]
VICTIMS = ("api", "worker", "both")


@dataclass
class Figures:
    iterations: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0
    resent_after_crash: int = 0
    terminal_events: int = 0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)


@dataclass
class Merchant:
    client_id: str
    token: str
    application_token: str
    crypto_token: str


@dataclass
class Acked:
    merchant: str
    internal_code: str
    amount_centavos: int


class Load:
    """Threads that send cash-outs while ``running`` is set. A request in hand is kept,
    and sent again with the same key, until it gets an answer."""

    def __init__(
        self, base_url: str, merchants: list[Merchant], hook_url: str, seed: int, threads: int
    ) -> None:
        self.base_url = base_url
        self.merchants = merchants
        self.hook_url = hook_url
        self.running = threading.Event()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[Acked] = []
        self.resent = 0
        self.refused: Counter[str] = Counter()
        self.unavailable: Counter[str] = Counter()  # 503s, by code, each retried
        self.idle = [threading.Event() for _ in range(threads)]
        self.threads = [
            threading.Thread(target=self._run, args=(n, random.Random(seed + n)), daemon=True)
            for n in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def pause(self, timeout: float = 60) -> None:
        """Stop sending new requests and wait until none is in hand."""
        self.running.clear()
        deadline = time.monotonic() + timeout
        for idle in self.idle:
            if not idle.wait(max(0.0, deadline - time.monotonic())):
                raise AssertionError("a request found no answer after the restart")

    def close(self) -> None:
        self.stop.set()
        self.running.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _run(self, n: int, rng: random.Random) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as http:
            while not self.stop.is_set():
                self.idle[n].set()
                self.running.wait()
                if self.stop.is_set():
                    return
                self.idle[n].clear()
                self._one(http, rng)

    def _one(self, http: httpx.Client, rng: random.Random) -> None:
        m = rng.choice(self.merchants)
        amount = rng.randint(100, 500)
        body = {
            "amount": f"{amount // 100}.{amount % 100:02d}",
            "externalReference": f"crash-{uuid.uuid4().hex[:20]}",
            "webhookUrl": f"{self.hook_url}/hook",
            "payee": {
                "name": "Maria Silva",
                "document": "12345678909",
                "destination": rng.choice(DESTINATIONS),
            },
        }
        headers = {
            "Authorization": f"Bearer {m.token}",
            "ApplicationToken": m.application_token,
            "DigitalSignature": signature_for(m.token, m.crypto_token),
            "X-Idempotency-Key": str(uuid.uuid4()),
        }
        tries = 0
        # The answer may be lost to a crash; the same key makes the retry safe. A key
        # claimed by a process that died stays "in use" until its claim expires.
        while True:
            tries += 1
            try:
                reply = http.post("/cash-out", json=body, headers=headers)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if reply.status_code == 409 and _code(reply) == "IDEMPOTENCY_KEY_IN_USE":
                time.sleep(0.25)
                continue
            if reply.status_code == 503:
                with self.lock:
                    self.unavailable[_code(reply)] += 1
                time.sleep(0.05)
                continue
            break
        with self.lock:
            self.resent += tries > 1
            if reply.status_code == 202:
                code = reply.json()["internalCode"]
                self.acked.append(Acked(m.client_id, code, amount))
            else:
                self.refused[f"{reply.status_code} {_code(reply)}"] += 1


def _code(reply: httpx.Response) -> str:
    try:
        return str(reply.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "?"


class Processes:
    """The API and the worker as real processes, each killed and started at will."""

    def __init__(self, settings: Settings, workdir: Path, port: int) -> None:
        self.env = process_env(settings, latency_ms=0, lease_seconds=2)
        self.workdir = workdir
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        self.starts += 1
        log = (self.workdir / f"{args[0]}-{self.starts}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-m", "connectpsp", *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    def start_api(self) -> None:
        self.api = self._spawn("serve", "--no-worker", "--port", str(self.port))
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.api.poll() is None, "the API process exited"
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.05)

    def start_worker(self) -> None:
        self.worker = self._spawn("worker")

    def kill(self, victim: str) -> None:
        for name in ("api", "worker") if victim == "both" else (victim,):
            proc = getattr(self, name)
            if proc is not None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                setattr(self, name, None)

    def restart_missing(self) -> None:
        if self.worker is None:
            self.start_worker()
        if self.api is None:
            self.start_api()

    def deaths(self) -> list[str]:
        """Processes that exited on their own, with the end of their log."""
        found = []
        for name in ("api", "worker"):
            proc = getattr(self, name)
            if proc is not None and proc.poll() is not None:
                logs = sorted(
                    self.workdir.glob(f"{'serve' if name == 'api' else name}-*.log"),
                    key=lambda path: path.stat().st_mtime,
                )
                tail = logs[-1].read_text()[-2000:] if logs else ""
                found.append(f"the {name} exited with {proc.returncode}: {tail}")
        return found

    def stop(self) -> None:
        for proc in (self.api, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _merchants(container: Container, base_url: str, count: int) -> list[Merchant]:
    merchants = []
    for n in range(count):
        creds = container.clients.create(f"crash-{n}")
        remember_secret(
            creds.client_secret, creds.crypto_token, creds.application_token, creds.webhook_secret
        )
        container.clients.fund(creds.client_id, 100_000_000_00)
        reply = httpx.post(
            f"{base_url}/auth/token",
            json={"clientId": creds.client_id, "clientSecret": creds.client_secret},
        )
        assert reply.status_code == 200, reply.text
        token = reply.json()["accessToken"]
        remember_secret(token)
        merchants.append(
            Merchant(creds.client_id, token, creds.application_token, creds.crypto_token)
        )
    return merchants


def _problems(container: Container, hook: Receiver, acked: list[Acked]) -> list[str]:
    """What the database and the receiver say about the acknowledged cash-outs."""
    c = t.cash_outs.c
    codes = [a.internal_code for a in acked]
    with container.db.transaction(write=False) as tx:
        rows = {
            r.internal_code: r
            for r in tx.conn.execute(select(c.id, c.internal_code, c.client_id, c.amount, c.status))
        }
    problems = [
        f"acknowledged {a.internal_code} is lost or changed"
        for a in acked
        if a.internal_code not in rows
        or (rows[a.internal_code].client_id, rows[a.internal_code].amount)
        != (a.merchant, a.amount_centavos)
    ]
    ids = [rows[code].id for code in codes if code in rows]
    problems += settlement_problems(container.db, ids)
    problems += ledger_problems(container.db)
    delivered = {r.json()["data"]["internalCode"] for r in hook.by_path("/hook")}
    problems += [f"{code}: no terminal webhook received" for code in codes if code not in delivered]
    return problems


def _drain(container: Container, hook: Receiver, acked: list[Acked], timeout: float) -> None:
    """Wait until every acknowledged cash-out is terminal and its event has arrived."""
    c = t.cash_outs.c
    codes = {a.internal_code for a in acked}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with container.db.transaction(write=False) as tx:
            processing = tx.conn.execute(
                select(c.internal_code).where(c.status == "PROCESSING")
            ).all()
        delivered = {r.json()["data"]["internalCode"] for r in hook.by_path("/hook")}
        if not any(r.internal_code in codes for r in processing) and codes <= delivered:
            return
        time.sleep(0.1)


def crash_loop(
    settings: Settings, workdir: Path, *, iterations: int, seed: int, threads: int = 4
) -> Figures:
    """Run ``iterations`` kill-and-restart rounds; returns the figures and violations."""
    rng = random.Random(seed)
    figures = Figures()
    started = time.monotonic()
    container = build(settings, clock=FakeClock())
    procs = Processes(settings, workdir, free_port())
    with receiver() as hook:
        procs.start_worker()
        procs.start_api()
        load = Load(
            procs.base_url, _merchants(container, procs.base_url, 3), hook.url, seed, threads
        )
        try:
            for _ in range(iterations):
                load.running.set()
                time.sleep(rng.uniform(0.2, 1.0))
                victim = rng.choice(VICTIMS)
                procs.kill(victim)
                figures.kills[victim] += 1
                procs.restart_missing()
                load.pause()
                _drain(container, hook, load.acked, timeout=60)
                figures.iterations += 1
                problems = procs.deaths() + _problems(container, hook, load.acked)
                if problems:
                    figures.violations += [f"iteration {figures.iterations}: {p}" for p in problems]
                    break
        finally:
            load.close()
            procs.stop()
        figures.acknowledged = len(load.acked)
        figures.resent_after_crash = load.resent
        figures.terminal_events = len(hook.by_path("/hook"))
    container.close()
    figures.seconds = time.monotonic() - started
    return figures


@dataclass
class OutageFigures:
    outages: int = 0
    acknowledged: int = 0
    unavailable: Counter[str] = field(default_factory=Counter)
    probes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)


def database_outage(
    cluster: PrivatePostgres, workdir: Path, *, outages: int, seed: int, down_seconds: float = 2
) -> OutageFigures:
    """Stop PostgreSQL (as a crash: ``pg_ctl -m immediate``) in the middle of load,
    ``outages`` times. While it is down, every answer must be a 503 with the
    ``SERVICE_UNAVAILABLE`` code; once it is back, the API and the worker recover on
    their own, and every acknowledged cash-out is settled and delivered."""
    rng = random.Random(seed)
    figures = OutageFigures()
    started = time.monotonic()
    settings = Settings(
        database_url=cluster.url, master_key=MASTER_KEY, var_dir=workdir, sandbox_latency_ms=0
    )
    container = build(settings, clock=FakeClock())
    procs = Processes(settings, workdir, free_port())
    with receiver() as hook:
        procs.start_worker()
        procs.start_api()
        merchants = _merchants(container, procs.base_url, 2)
        load = Load(procs.base_url, merchants, hook.url, seed, threads=4)
        try:
            for _ in range(outages):
                load.running.set()
                time.sleep(rng.uniform(0.3, 1.0))
                cluster.stop("immediate")
                down_until = time.monotonic() + down_seconds
                while time.monotonic() < down_until:
                    figures.probes.update(_probe(procs.base_url, merchants[0]))
                    time.sleep(0.2)
                cluster.start()
                time.sleep(rng.uniform(0.3, 1.0))  # load goes on against the recovered API
                load.pause()
                _drain(container, hook, load.acked, timeout=60)
                figures.outages += 1
                problems = procs.deaths() + _problems(container, hook, load.acked)
                if problems:
                    figures.violations += [f"outage {figures.outages}: {p}" for p in problems]
                    break
        finally:
            load.close()
            procs.stop()
        figures.acknowledged = len(load.acked)
        figures.unavailable = load.unavailable
    container.close()
    figures.seconds = time.monotonic() - started
    return figures


def _probe(base_url: str, m: Merchant) -> list[str]:
    """What the API answers while the database is down, as "status CODE" strings."""
    answers = []
    for method, path in (("GET", "/healthz"), ("GET", "/balance"), ("POST", "/auth/token")):
        reply = httpx.request(
            method,
            base_url + path,
            headers={"Authorization": f"Bearer {m.token}", "ApplicationToken": m.application_token},
            json={"clientId": m.client_id, "clientSecret": "cs_probe"}
            if method == "POST"
            else None,
            timeout=10,
        )
        answers.append(f"{path} {reply.status_code} {_code(reply)}")
    return answers


if __name__ == "__main__":  # a quick manual run: python -m tests.reliability.crashloop
    import tempfile

    from tests.support import database

    with tempfile.TemporaryDirectory() as tmp, database("sqlite", Path(tmp)) as s:
        print(crash_loop(s, Path(tmp), iterations=int(os.environ.get("N", "5")), seed=1))
