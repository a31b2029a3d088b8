"""What every phase of a run shares: its context (database, settings, rows so far) and
one load from every generator process, with the ways its result is read."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from connectpsp.settings import Settings

from .config import Config
from .load import Caller, LoadResult, LoadSpec, run_load
from .rawsql import Account, RawResult, RawSpec, run_raw_spread
from .report import Row

__all__ = ["Context", "errors", "load", "rate", "ratio", "raw_errors", "raw_load", "spread"]


@dataclass
class Context:
    kind: str
    config: Config
    pool: ProcessPoolExecutor
    tmp: Path
    rows: list[Row]
    say: Callable[[str], None]

    def add(self, measurement: str, result: str, notes: str = "") -> None:
        self.rows.append(Row(self.kind, measurement, result, notes))
        self.say(f"  {measurement}: {result}  {notes}")


def spread(total: int, parts: int, n: int) -> int:
    """Part ``n`` of ``total`` shared as evenly as can be among ``parts``."""
    return total // parts + (n < total % parts)


def raw_load(
    ctx: Context,
    settings: Settings,
    accounts: list[Account],
    psp_accounts: tuple[int, int],
    *,
    job: str,
    threads: int,
    batch: int = 1,
) -> tuple[RawResult, int]:
    """One measured window of a raw-SQL job from ``threads`` connections, spread over the
    generator processes (one on SQLite: it has one writer, and more processes would only
    fight in its busy handler), each starting at another of ``accounts``. The summed
    result, and how many processes ran it."""
    cfg = ctx.config
    procs = 1 if ctx.kind == "sqlite" else max(1, min(cfg.procs, threads))
    start = time.monotonic() + cfg.lead
    tag = uuid.uuid4().hex[:8]
    settlement_id, fees_id = psp_accounts
    specs = [
        RawSpec(
            url=settings.database_url,
            schema=settings.database_schema,
            accounts=tuple(accounts[n:] + accounts[:n]),
            settlement_id=settlement_id,
            fees_id=fees_id,
            fee=cfg.fee_centavos,
            threads=spread(threads, procs, n),
            start_at=start,
            warmup=cfg.warmup,
            seconds=cfg.seconds,
            tag=f"{tag}{n}",
            job=job,
            batch=batch,
        )
        for n in range(procs)
    ]
    return run_raw_spread(ctx.pool, specs), procs


def raw_errors(result: RawResult) -> str:
    """A raw run's errors, for a row's notes ("" when there were none)."""
    if not result.errors:
        return ""
    return f"; {result.errors} errors, first: {result.sample_error[:120]}"


def load(
    ctx: Context,
    port: int,
    route: str,
    callers: tuple[Caller, ...] = (),
    *,
    rate: float = 0.0,
    webhook_url: str | None = None,
    items: int = 0,
    requests: int = 0,
) -> LoadResult:
    """One phase from every generator process: closed loop, or open loop at ``rate``;
    ``items`` cash-outs per request on the batch route; a closed loop stops after
    ``requests`` requests in all, if given."""
    cfg = ctx.config
    procs = max(1, min(cfg.procs, cfg.concurrency))
    start = time.monotonic() + cfg.lead
    run = uuid.uuid4().hex[:8]
    specs = [
        LoadSpec(
            port=port,
            route=route,
            mode="open" if rate else "closed",
            concurrency=spread(cfg.concurrency, procs, n),
            start_at=start,
            warmup=cfg.warmup,
            seconds=cfg.seconds,
            tag=f"{run}{n}",
            callers=callers,
            rate=rate / procs,
            webhook_url=webhook_url,
            first_caller=n * len(callers) // procs,
            items=items,
            requests=spread(requests, procs, n) if requests else 0,
        )
        for n in range(procs)
    ]
    total = LoadResult(window=specs[0].window)
    for part in ctx.pool.map(run_load, specs):
        total.merge(part)
    return total


def errors(result: LoadResult) -> str:
    """The failures a load met, or "" (a row whose notes say "errors" measured something
    broken: the smoke test fails on it)."""
    failed = sum(result.statuses.values())
    if not failed and not result.late:
        return ""
    by_status = ", ".join(f"{s or 'conn'}: {n}" for s, n in sorted(result.statuses.items()))
    late = f"; {result.late} connection(s) still waiting at the cut-off" if result.late else ""
    return f"errors {by_status}{late}; first: {result.sample_error[:120]}"


def rate(result: LoadResult, seconds: float) -> float:
    return result.ok / seconds


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "n/a"
