"""``python -m bench.checks [--rounds N] [--output PATH]``: only the fraud checks' rows of
``python -m bench`` (issue 20), with as many rounds as asked, on ``BENCH_DATABASES``.

The full run gives the checks six rounds among its other phases; their ratio moves by
a tenth from round to round on a shared machine, so this runs them alone and longer.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from .config import Config
from .phase import Context
from .report import Row, render_table, write_markdown
from .turns import checks_phase

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.checks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, SQLite only")
    parser.add_argument("--rounds", type=int, default=12, help="rounds of the three arms")
    parser.add_argument("--output", type=Path, help="markdown file to append the rows to")
    args = parser.parse_args(argv)
    config = Config.from_env(smoke=args.smoke)
    started, t0 = datetime.now(UTC), time.monotonic()

    def say(line: str) -> None:
        print(f"{time.monotonic() - t0:7.1f}s {line}", flush=True)

    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="connectpsp-checks-") as tmp,
        ProcessPoolExecutor(
            max(config.procs, 1), mp_context=multiprocessing.get_context("spawn")
        ) as pool,
    ):
        for kind in config.databases:
            directory = Path(tmp) / kind
            directory.mkdir()
            ctx = Context(kind, config, pool, directory, [], say)
            say(f"[{kind}] fraud checks, {args.rounds} rounds")
            checks_phase(ctx, args.rounds)
            rows += ctx.rows
    say("\n" + render_table(rows))
    if args.output:
        write_markdown(args.output, rows, config, started)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
