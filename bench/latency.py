"""``python -m bench.latency [--runs N] [--output PATH]``: issue 19's point 5 alone. The
p99 of a cash-out at half of saturation, for a hot client and for 1,000 clients, in
``--runs`` runs in a row (default 3) on each of ``BENCH_DATABASES``, against its 25 ms
target.

Each run is the latency part of ``python -m bench``'s API phase: a fresh database and
``serve --no-worker``, the scenario's saturation measured first (closed loop), then an
open loop offering half of it. The last row of each database says in how many of the
runs both scenarios met the target.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from connectpsp.bootstrap import build

from .alone import run_alone
from .config import Config
from .fixtures import create_merchants, login, scratch_database
from .load import Caller
from .phase import Context, errors, load, rate
from .server import Server
from .stats import fmt_rate, percentile, percentiles_ms

__all__ = ["P99_TARGET_MS", "latency_row", "main"]

P99_TARGET_MS = 25.0  # issue 19, point 5
LEVEL = 0.5


def latency_row(
    ctx: Context,
    port: int,
    label: str,
    callers: tuple[Caller, ...],
    saturation: float,
    level: float,
) -> float:
    """One open-loop load at ``level`` of ``saturation``, added as a row; its p99 in ms."""
    offered = max(1.0, level * saturation)
    found = load(ctx, port, "cash_out", callers, rate=offered)
    ctx.add(
        f"latency at {level:.0%} of saturation, {label}",
        percentiles_ms(found.latencies_us),
        f"p50 / p99 / p99.9 at {fmt_rate(offered)}/s offered, "
        f"{fmt_rate(rate(found, ctx.config.seconds))}/s accepted " + errors(found),
    )
    return percentile(sorted(found.latencies_us), 99) / 1000


def _one_run(ctx: Context, run: int) -> bool:
    kind, cfg = ctx.kind, ctx.config
    met = True
    with scratch_database(kind, ctx.tmp, f"latency{run}", cfg.pg_url) as settings:
        container = build(settings)
        hot, *many = create_merchants(container, cfg.clients + 1, fee=cfg.fee_centavos)
        container.close()
        with Server(settings, worker=False, log=ctx.tmp / f"latency{run}.log") as api:
            scenarios = (
                ("hot client", login(api.base_url, [hot])),
                ("1,000 clients", login(api.base_url, many)),
            )
            for label, callers in scenarios:
                saturation = rate(load(ctx, api.port, "cash_out", callers), cfg.seconds)
                p99 = latency_row(ctx, api.port, f"{label}, run {run}", callers, saturation, LEVEL)
                met = met and p99 <= P99_TARGET_MS
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, SQLite only")
    parser.add_argument("--runs", type=int, default=3, help="runs in a row")
    parser.add_argument("--output", type=Path, help="markdown file to append the rows to")
    args = parser.parse_args(argv)
    config = Config.from_env(smoke=args.smoke)

    def measure(ctx: Context) -> None:
        ctx.say(f"[{ctx.kind}] latency at {LEVEL:.0%} of saturation, {args.runs} runs")
        met = [_one_run(ctx, run) for run in range(1, args.runs + 1)]
        ctx.add(
            f"p99 at {LEVEL:.0%} of saturation, at most {P99_TARGET_MS:g} ms",
            f"{sum(met)} of {len(met)} runs",
            "both scenarios under the target in runs "
            + (", ".join(str(n) for n, ok in enumerate(met, 1) if ok) or "none"),
        )

    return run_alone(config, args.output, "connectpsp-latency-", measure)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
