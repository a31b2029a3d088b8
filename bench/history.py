"""``python -m bench.history``: what reading one client's risk history costs a batch, by
how many decisions it holds.

The client's own rules look back a minute, an hour and to the start of its night: for
each client of a batch with a rule set, the acceptance writer reads the client's tally
and its tally just before each of those moments (``SqlRisk.tallies``: index look-ups,
in one statement). This times that read on a fresh database holding
``N`` decisions of one client in the last 50 minutes, each at a moment of its own (a row
each), beside one ``COUNT``/``SUM`` over the hour's rows in SQL that touches each row's
document (what reading the rows themselves would cost at the least), so that the
read's cost, flat in ``N``, shows. Milliseconds, the median of 5.

    python -m bench.history [--sizes 1000,10000,100000]

``BENCH_DATABASES`` and ``BENCH_PG_URL`` as ``python -m bench``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database, insert_rows
from connectpsp.adapters.storage.risk import SqlRisk
from connectpsp.bootstrap import build
from connectpsp.domain.risk import HOUR, MINUTE, TICK
from connectpsp.settings import Settings

from .config import Config
from .fixtures import create_merchants, scratch_database

__all__ = ["main"]


def _median_ms(run: Callable[[], object], times: int = 5) -> float:
    found = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        found.append((time.perf_counter() - start) * 1e3)
    return statistics.median(found)


def _grow(db: Database, client_id: str, have: int, want: int, now: datetime) -> None:
    """Decisions of the last 50 minutes up to ``want``, each as the engine records one
    (their times go back as their tallies go up: the look-ups do not care)."""
    checks = '[{"rule":"fraud_markers","passed":true,"inputs":{}}]'
    rows = []
    for n in range(have, want):
        decision = str(uuid.uuid4())
        entry = (
            f'{{"id":"{decision}","cashOutId":null,"amount":1,"payee":"12345678909",'
            f'"code":null,"checks":{checks}}}'
        )
        rows.append(
            {
                "id": decision,
                "client_id": client_id,
                "at": now - timedelta(seconds=3000 * n / want),
                "decisions": f"[{entry}]",
                "decided_total": n + 1,
                "accepted_total": n + 1,
            }
        )
    with db.transaction(write=True) as tx:
        for part in range(0, len(rows), 5000):
            insert_rows(tx.conn, t.risk_decisions, rows[part : part + 5000])
        tx.commit()


def _measure(settings: Settings, sizes: list[int]) -> list[tuple[int, float, float]]:
    container = build(settings)
    [merchant] = create_merchants(container, 1, fee=0)
    db, client = container.db, merchant.client_id
    now = container.clock.now()
    since = now - HOUR
    d = t.risk_decisions.c
    aggregate = select(func.count(), func.coalesce(func.sum(func.length(d.decisions)), 0)).where(
        d.client_id == client, d.at > since
    )

    moments = [now - MINUTE + TICK, since, now - timedelta(hours=3)]

    def read() -> object:
        with db.transaction(write=False) as tx:
            risk = SqlRisk(tx.conn)
            return risk.tallies([client], [(client, m) for m in moments])

    def summed() -> object:
        with db.transaction(write=False) as tx:
            return tx.conn.execute(aggregate).one()

    found, have = [], 0
    for size in sizes:
        _grow(db, client, have, size, now)
        have = size
        found.append((size, _median_ms(read), _median_ms(summed)))
    container.close()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    config = Config.from_env()
    print("| database | decisions in the look-back | tallies read | COUNT/SUM in SQL |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="connectpsp-history-") as tmp:
        for kind in config.databases:
            with scratch_database(kind, Path(tmp), "history", config.pg_url) as settings:
                for size, read, summed in _measure(settings, sizes):
                    print(f"| {kind} | {size:,} | {read:.1f} ms | {summed:.1f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
