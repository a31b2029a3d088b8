"""The raw-SQL baselines: a job of ``bench.rawjobs`` (the server's writes for one
cash-out, or issue 19's minimal ones), one transaction per request, no HTTP, on a scratch
copy of the project's migrated schema.

PostgreSQL is driven from ``procs`` processes of threads, one psycopg connection each.
SQLite writers are serialised by one in-process lock, as the server serialises its own
(``adapters/storage/db.py``): writers spinning in SQLite's busy handler would measure the
busy handler, not SQLite. SQLite runs in WAL mode with ``synchronous=FULL``, PostgreSQL
with ``synchronous_commit=on``, as the server's connections do.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.migrate import upgrade

from .rawbatch import BATCH
from .rawjobs import JOBS

_JOBS = {**JOBS, BATCH.name: BATCH}

__all__ = ["Account", "RawResult", "RawSpec", "prepare", "run_raw", "run_raw_spread"]

_SECRET_COLUMNS = ("secret_hash", "crypto_token_enc", "app_token_hash", "webhook_secret_enc")


@dataclass(frozen=True)
class Account:
    client_id: str
    account_id: int


@dataclass(frozen=True)
class RawSpec:
    url: str  # a SQLAlchemy URL: sqlite:///path or postgresql+psycopg://...
    schema: str | None
    accounts: tuple[Account, ...]  # round robin; one account is the hot case
    settlement_id: int
    fees_id: int
    fee: int
    threads: int
    start_at: float
    warmup: float
    seconds: float
    tag: str
    job: str = "server"  # a name of rawjobs.JOBS, or rawbatch.BATCH's
    batch: int = 1  # cash-outs per transaction (the batch job's)


@dataclass
class RawResult:
    commits: int = 0
    latencies_us: list[int] = field(default_factory=list)
    errors: int = 0
    sample_error: str = ""

    def merge(self, other: RawResult) -> None:
        self.commits += other.commits
        self.latencies_us += other.latencies_us
        self.errors += other.errors
        self.sample_error = self.sample_error or other.sample_error


def prepare(url: str, schema: str | None, count: int) -> tuple[list[Account], int, int]:
    """Migrate the scratch database and open ``count`` funded client accounts; returns
    them and the ids of the PSP's settlement and fee accounts."""
    db = Database(url, schema=schema)
    upgrade(db)
    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with db.transaction(write=True) as tx:
        tx.conn.execute(
            insert(t.clients),
            [
                {
                    "id": i,
                    "name": "raw",
                    # The raw path never authenticates: placeholders, not secrets.
                    **dict.fromkeys(_SECRET_COLUMNS, "-"),
                    "fee_fixed": 1,
                    "fee_bps": 0,
                    "per_transaction_limit": 10**12,
                    "daily_limit": 10**15,
                    "active": True,
                    "created_at": now,
                }
                for i in ids
            ],
        )
        rows: list[tuple[str, str | None, bool]] = [
            ("psp:settlement", None, False),
            ("psp:fees", None, False),
        ]
        rows += [(f"client:{i}", i, True) for i in ids]
        tx.conn.execute(
            insert(t.accounts),
            [
                {
                    "code": code,
                    "client_id": client,
                    "no_overdraft": checked,
                    "debits_pending": 0,
                    "debits_posted": 0,
                    "credits_posted": 10**13 if checked else 0,
                    "created_at": now,
                }
                for code, client, checked in rows
            ],
        )
        found = dict(tx.conn.execute(select(t.accounts.c.code, t.accounts.c.id)).all())
        tx.commit()
    db.dispose()
    accounts = [Account(i, found[f"client:{i}"]) for i in ids]
    return accounts, found["psp:settlement"], found["psp:fees"]


def _connect(spec: RawSpec) -> tuple[Any, Callable[[str], str], str]:
    """A DB-API connection, a statement translator, and the BEGIN to use."""
    if spec.url.startswith("sqlite"):
        conn = sqlite3.connect(
            spec.url.split("///", 1)[1], isolation_level=None, check_same_thread=False
        )
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
            conn.execute(f"PRAGMA {pragma}")
        return conn, lambda sql: sql.replace("%s", "?"), "BEGIN IMMEDIATE"
    import psycopg

    options = "-c synchronous_commit=on"
    if spec.schema:
        options += f" -c search_path={spec.schema}"
    dsn = spec.url.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(dsn, options=options, autocommit=True), lambda sql: sql, "BEGIN"


def _thread(spec: RawSpec, index: int, lock: AbstractContextManager[Any], out: RawResult) -> None:
    conn, translate, begin = _connect(spec)
    sqlite = spec.url.startswith("sqlite")
    job = _JOBS[spec.job]
    sql = [translate(s) for s in job.statements]
    cur = conn.cursor()
    start, end = spec.start_at + spec.warmup, spec.start_at + spec.warmup + spec.seconds
    latencies: list[int] = []
    delay = spec.start_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    i = 0
    while (began := time.monotonic()) < end:
        account = spec.accounts[(index + i) % len(spec.accounts)]
        key = f"{spec.tag}-{index}-{i}"
        i += 1
        try:
            with lock:
                cur.execute(begin)
                ok = job.run(cur, sql, spec, account, key, sqlite)
                cur.execute("COMMIT" if ok else "ROLLBACK")
        except Exception as error:  # count it and go on; the run reports it
            out.errors += 1
            out.sample_error = out.sample_error or repr(error)
            with suppress(Exception):
                cur.execute("ROLLBACK")
            continue
        now = time.monotonic()
        if ok and start <= now < end:
            out.commits += 1
            if began >= start:
                latencies.append(int((now - began) * 1e6))
    out.latencies_us += latencies
    conn.close()


def run_raw(spec: RawSpec) -> RawResult:
    """One process's share: ``spec.threads`` connections, each in a thread."""
    lock: AbstractContextManager[Any] = (
        threading.Lock() if spec.url.startswith("sqlite") else nullcontext()
    )
    parts = [RawResult() for _ in range(spec.threads)]
    threads = [
        threading.Thread(target=_thread, args=(spec, n, lock, parts[n]))
        for n in range(spec.threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = RawResult()
    for part in parts:
        total.merge(part)
    return total


def run_raw_spread(pool: ProcessPoolExecutor, specs: list[RawSpec]) -> RawResult:
    """Runs each spec in a process of ``pool`` and sums their results."""
    total = RawResult()
    for part in pool.map(run_raw, specs):
        total.merge(part)
    return total
