"""What a phase run alone shares (``python -m bench.growth``, ``bench.checks``,
``bench.versus``): the load generators' pool, a directory per database of
``BENCH_DATABASES``, and the table printed, and appended to ``--output`` if given."""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from .config import Config
from .phase import Context
from .report import Row, render_table, write_markdown

__all__ = ["run_alone"]


def run_alone(
    config: Config, output: Path | None, prefix: str, measure: Callable[[Context], None]
) -> int:
    """``measure`` on each database in turn; the exit status."""
    started, t0 = datetime.now(UTC), time.monotonic()

    def say(line: str) -> None:
        print(f"{time.monotonic() - t0:7.1f}s {line}", flush=True)

    rows: list[Row] = []
    workers = max(config.procs, 1)
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as tmp,
        ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool,
    ):
        list(pool.map(_warm, range(workers)))
        for kind in config.databases:
            directory = Path(tmp) / kind
            directory.mkdir()
            ctx = Context(kind, config, pool, directory, [], say)
            measure(ctx)
            rows += ctx.rows
    say("\n" + render_table(rows))
    if output:
        write_markdown(output, rows, config, started)
    return 0


def _warm(_: int) -> None:
    """Imports in a pool process before any load, so that no load pays for them."""
    from . import load as _load  # noqa: F401

    time.sleep(0.2)
