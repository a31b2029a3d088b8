"""``python -m bench.record``: what recording the fraud checks' decisions costs the
acceptance writer, per decision, in-process.

Each batch is what a hot client's batch records (``SqlRisk.record``): ``--batch``
decisions of one client at one moment, each with the checks of every one of its own
rules (``fixtures.every_rule``), in a write transaction of its own that commits. The
base is the same transaction recording the batch's last decision alone, with no
checks: a batch commits and records its client's tally anyway, so what is left is the
cost of the decisions themselves. The writer's thread CPU and the wall time, per
decision, three runs of ``--batches`` batches each.

    python -m bench.record [--batch 30] [--batches 200]

``BENCH_DATABASES`` and ``BENCH_PG_URL`` as ``python -m bench``. It uses only
``SqlRisk.record`` and the domain's ``Decision``, so the file run against another tree
(``PYTHONPATH=TREE/src:TREE``) measures that tree's record.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from connectpsp.adapters.storage.risk import SqlRisk
from connectpsp.bootstrap import Container, build
from connectpsp.domain.ids import ordered_id
from connectpsp.domain.risk import Decision, RiskHistory, Screening, Tally, screen

from .config import Config
from .fixtures import every_rule, scratch_database

__all__ = ["main"]


def _batches(container: Container, size: int, count: int) -> list[list[Decision]]:
    now = container.clock.now()
    client, payee = str(uuid.uuid4()), "12345678909"
    checks = tuple(screen(every_rule(now), RiskHistory(), Screening(), payee, 1_00, now))
    tally, found = Tally(), []
    for i in range(count):
        at = now + timedelta(seconds=i)
        batch = []
        for _ in range(size):
            tally = Tally(tally.decided + 1, tally.accepted + 1_00)
            cash_out = str(uuid.uuid4())
            batch.append(
                Decision(ordered_id(at), client, cash_out, at, 1_00, payee, None, checks, tally)
            )
        found.append(batch)
    return found


def _per_decision(container: Container, batches: list[list[Decision]]) -> tuple[float, float]:
    """Thread CPU and wall µs per decision of ``batches``, each recorded and committed."""
    cpu, wall = time.thread_time(), time.perf_counter()
    for batch in batches:
        with container.db.transaction(write=True) as tx:
            SqlRisk(tx.conn).record(batch)
            tx.commit()
    decisions = sum(len(b) for b in batches)
    return (
        (time.thread_time() - cpu) / decisions * 1e6,
        (time.perf_counter() - wall) / decisions * 1e6,
    )


def _measure(container: Container, size: int, count: int) -> list[tuple[float, float]]:
    # Warm the statements' caches, then each run records fresh batches and their base.
    _per_decision(container, _batches(container, size, 10))
    found = []
    for _ in range(3):
        whole = _batches(container, size, count)
        base = [[replace(b[-1], checks=())] for b in _batches(container, size, count)]
        base_cpu, base_wall = _per_decision(container, base)
        cpu, wall = _per_decision(container, whole)
        found.append((cpu - base_cpu / size, wall - base_wall / size))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.record", description=__doc__)
    parser.add_argument("--batch", type=int, default=30, help="decisions a batch")
    parser.add_argument("--batches", type=int, default=200, help="batches a run")
    args = parser.parse_args(argv)
    config = Config.from_env()
    print("| database | decisions a batch | writer CPU a decision | wall a decision |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="connectpsp-record-") as tmp:
        for kind in config.databases:
            with scratch_database(kind, Path(tmp), "record", config.pg_url) as settings:
                container = build(settings)
                for cpu, wall in _measure(container, args.batch, args.batches):
                    print(f"| {kind} | {args.batch} | {cpu:.1f} µs | {wall:.1f} µs |")
                container.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
