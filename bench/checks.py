"""``python -m bench.checks [--rounds N] [--output PATH]``: only the fraud checks' rows of
``python -m bench`` (issue 20), with as many rounds as asked, on ``BENCH_DATABASES``.

The full run gives the checks six rounds among its other phases; their ratio moves by
a tenth from round to round on a shared machine, so this runs them alone and longer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .alone import run_alone
from .config import Config
from .phase import Context
from .turns import checks_phase

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.checks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, SQLite only")
    parser.add_argument("--rounds", type=int, default=12, help="rounds of the three arms")
    parser.add_argument("--output", type=Path, help="markdown file to append the rows to")
    args = parser.parse_args(argv)
    config = Config.from_env(smoke=args.smoke)

    def measure(ctx: Context) -> None:
        ctx.say(f"[{ctx.kind}] fraud checks, {args.rounds} rounds")
        checks_phase(ctx, args.rounds)

    return run_alone(config, args.output, "connectpsp-checks-", measure)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
