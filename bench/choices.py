"""``python -m bench.choices`` (``make bench-choices``): the measurements behind the
server, serializer and driver choices that docs/architecture.md records.

- JSON: decode a cash-out request and encode its 202 answer and a webhook, per library;
  and whether each keeps money exact (``0.1`` decodes to ``Decimal('0.1')``, and
  ``Decimal('50.00')`` encodes as the number ``50.00``).
- Drivers: the raw-SQL acceptance transaction (``bench.rawjobs.SERVER``) on the hot
  account from one connection, per driver: transactions/s and the client's CPU per transaction.
- Servers: the same app under each stack of ``bench.stacks`` (SQLite, no worker):
  ``GET /healthz`` and hot-client cash-outs, closed loop, as ``python -m bench`` runs them.

It prints a markdown table; nothing is written. About three minutes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from connectpsp.bootstrap import build

from . import rawjobs, rawsql
from .config import Config
from .fixtures import create_merchants, login, scratch_database
from .load import LoadSpec, run_load
from .server import Server
from .stacks import STACKS
from .stats import fmt_rate

__all__ = ["main"]

_REQUEST = json.dumps(
    {
        "value": 50.0,
        "destination": {"type": "PIX", "pixKeyType": "CPF", "pixKey": "12345678909"},
        "payee": {"name": "Maria Silva", "document": "12345678909"},
        "description": "User withdrawal",
        "externalReference": "order-12345",
        "webhookUrl": "https://hooks.example.com/pix",
    }
).encode()
_ANSWER = {"transactionId": str(uuid.uuid4()), "status": "PROCESSING", "internalCode": "ABCDEFGHIJ"}
_WEBHOOK = {
    "event": "CASHOUT_COMPLETED",
    "transactionId": str(uuid.uuid4()),
    "externalReference": "order-12345",
    "value": Decimal("50.00"),
    "fee": Decimal("0.50"),
    "status": "COMPLETED",
    "endToEndId": "E1234567820261203120000abcdefghij",
    "processingDate": "2026-12-03T12:00:00.000Z",
    "payee": {"name": "Maria Silva", "document": "***.456.789-**", "bank": "00000000"},
}


def _us(call: Callable[[], object]) -> float:
    runs = timeit.repeat(call, number=2000, repeat=5)
    return min(runs) / 2000 * 1e6


def _json_rows() -> list[tuple[str, str, str]]:
    import orjson

    msgspec_encoder = msgspec.json.Encoder(decimal_format="number")
    msgspec_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(float_hook=Decimal)

    def stdlib_encode(value: Any) -> bytes:  # Decimal has no JSON number form in json
        return json.dumps(value, default=str, separators=(",", ":")).encode()

    libraries: list[tuple[str, Callable[[bytes], Any], Callable[[Any], bytes]]] = [
        ("msgspec", msgspec_decoder.decode, msgspec_encoder.encode),
        ("json (stdlib)", lambda b: json.loads(b, parse_float=Decimal), stdlib_encode),
        ("orjson", orjson.loads, lambda v: orjson.dumps(v, default=str)),
    ]
    rows = []
    for name, decode, encode in libraries:
        exact_in = decode(b'{"v": 0.1}')["v"] == Decimal("0.1")
        exact_out = encode({"v": Decimal("50.00")}) in (b'{"v":50.00}', b'{"v": 50.00}')
        timing = (
            f"decode request {_us(lambda d=decode: d(_REQUEST)):.1f} µs, "  # type: ignore[misc]
            f"encode 202 {_us(lambda e=encode: e(_ANSWER)):.1f} µs, "  # type: ignore[misc]
            f"encode webhook {_us(lambda e=encode: e(_WEBHOOK)):.1f} µs"  # type: ignore[misc]
        )
        exact = (
            "exact"
            if exact_in and exact_out
            else (
                f"not exact: decode {'ok' if exact_in else 'to float'}, "
                f"encode {'ok' if exact_out else 'Decimal as a string'}"
            )
        )
        rows.append((f"JSON: {name}", timing, exact))
    return rows


class _ApswCursor:
    """apsw's cursor with the DB-API ``fetchone``, ``executemany`` and ``rowcount`` the
    raw-SQL jobs (``bench.rawjobs``) use."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._cursor = conn.cursor()
        self._rows: Any = iter(())

    def execute(self, sql: str, params: Any = ()) -> None:
        self._rows = self._cursor.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> None:
        for _ in self._cursor.executemany(sql, rows):
            pass  # inserts: no rows, but every binding runs

    def fetchone(self) -> Any:
        return next(self._rows, None)

    @property
    def rowcount(self) -> int:
        return int(self._conn.changes())


def _driver_cursor(driver: str, url: str, schema: str | None) -> tuple[Any, Any, bool]:
    """A cursor, its connection, and whether statements take ``?``."""
    if driver in ("sqlite3", "apsw"):
        path = url.split("///", 1)[1]
        if driver == "sqlite3":
            conn: Any = sqlite3.connect(path, isolation_level=None)
            cursor: Any = conn.cursor()
        else:
            import apsw

            conn = apsw.Connection(path)
            cursor = _ApswCursor(conn)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
            cursor.fetchone()
        return cursor, conn, True
    options = "-c synchronous_commit=on" + (f" -c search_path={schema}" if schema else "")
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    if driver == "psycopg 3":
        import psycopg

        conn = psycopg.connect(dsn, options=options, autocommit=True)
    else:
        import psycopg2  # type: ignore[import-untyped]

        conn = psycopg2.connect(dsn, options=options)
        conn.autocommit = True
    return conn.cursor(), conn, False


def _driver_row(
    kind: str, driver: str, tmp: Path, pg_url: str, seconds: float
) -> tuple[str, str, str]:
    with scratch_database(kind, tmp, f"driver{uuid.uuid4().hex[:6]}", pg_url) as settings:
        accounts, settlement_id, fees_id = rawsql.prepare(
            settings.database_url, settings.database_schema, 1
        )
        spec = rawsql.RawSpec(
            url=settings.database_url,
            schema=settings.database_schema,
            accounts=tuple(accounts),
            settlement_id=settlement_id,
            fees_id=fees_id,
            fee=1,
            threads=1,
            start_at=0,
            warmup=0,
            seconds=seconds,
            tag="d",
        )
        cursor, conn, qmark = _driver_cursor(
            driver, settings.database_url, settings.database_schema
        )
        sql = [s.replace("%s", "?") if qmark else s for s in rawjobs.SERVER.statements]
        sqlite = kind == "sqlite"
        begin = "BEGIN IMMEDIATE" if sqlite else "BEGIN"
        commits = 0
        cpu, wall = time.process_time(), time.monotonic()
        while time.monotonic() - wall < seconds:
            cursor.execute(begin)
            ok = rawjobs.SERVER.run(cursor, sql, spec, accounts[0], f"k{commits}", sqlite)
            cursor.execute("COMMIT" if ok else "ROLLBACK")
            commits += ok
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        with suppress(Exception):
            conn.close()
    return (
        f"driver ({kind}): {driver}",
        f"{fmt_rate(commits / wall)} transactions/s",
        f"one connection, hot account; client CPU {cpu / max(commits, 1) * 1e6:.0f} µs"
        " per transaction",
    )


def _stack_rows(
    stack: str, tmp: Path, pool: ProcessPoolExecutor, config: Config
) -> list[tuple[str, str, str]]:
    rows = []
    with scratch_database("sqlite", tmp, f"stack{uuid.uuid4().hex[:6]}", config.pg_url) as settings:
        container = build(settings)
        [hot] = create_merchants(container, 1, fee=1)
        container.close()
        command = [sys.executable, "-m", "bench.stacks", stack]
        with Server(settings, worker=False, log=tmp / f"{stack}.log", command=command) as server:
            callers = login(server.base_url, [hot])
            for route, label in (
                ("healthz", "GET /healthz"),
                ("cash_out", "cash-outs, hot client"),
            ):
                start = time.monotonic() + config.lead
                procs = config.procs
                specs = [
                    LoadSpec(
                        port=server.port,
                        route=route,
                        mode="closed",
                        concurrency=config.concurrency // procs,
                        start_at=start,
                        warmup=config.warmup,
                        seconds=config.seconds,
                        tag=f"{uuid.uuid4().hex[:8]}{n}",
                        callers=callers,
                    )
                    for n in range(procs)
                ]
                ok = sum(part.ok for part in pool.map(run_load, specs))
                rows.append(
                    (
                        f"server: {stack}",
                        f"{fmt_rate(ok / config.seconds)}/s {label}",
                        f"closed loop, {config.concurrency} connections, SQLite",
                    )
                )
    return rows


def main() -> int:
    env = dict(os.environ)
    env.setdefault("BENCH_SECONDS", "5")
    env.setdefault("BENCH_WARMUP", "1")
    config = Config.from_env(env)
    rows = _json_rows()
    context = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory(prefix="connectpsp-choices-") as directory,
        ProcessPoolExecutor(config.procs, mp_context=context) as pool,
    ):
        tmp = Path(directory)
        for kind, drivers in (
            ("sqlite", ("sqlite3", "apsw")),
            ("postgres", ("psycopg 3", "psycopg2")),
        ):
            for driver in drivers:
                rows.append(_driver_row(kind, driver, tmp, config.pg_url, config.seconds))
                print(rows[-1], flush=True)
        for stack in STACKS:
            rows += _stack_rows(stack, tmp, pool, config)
            print(rows[-2:], flush=True)
    print(
        f"\n`make bench-choices`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores\n"
    )
    print("| choice | result | notes |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
