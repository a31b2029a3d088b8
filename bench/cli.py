"""``python -m bench``: run every phase on each database, print the table, append it to
``BENCHMARKS.md`` (or ``--output``)."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, exc, text

from .config import Config
from .report import Row, render_table, write_markdown
from .run import bench_database

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent


def _say(line: str) -> None:
    print(f"{time.monotonic() - _T0:6.1f}s {line}", flush=True)


def _postgres_reachable(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def _warm(_: int) -> None:
    """Imports in a pool process before any phase, so no phase pays for them."""
    from . import load, rawsql  # noqa: F401

    time.sleep(0.2)  # long enough that every process takes one of these


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, SQLite only")
    parser.add_argument("--output", type=Path, help="markdown file to append to")
    args = parser.parse_args(argv)
    config = Config.from_env(smoke=args.smoke)
    output = args.output or (
        Path(tempfile.gettempdir()) / "BENCHMARKS-smoke.md"
        if config.smoke
        else ROOT / "BENCHMARKS.md"
    )
    started = datetime.now(UTC)
    rows: list[Row] = []
    # Spawned, not forked: the harness holds engines and threads a fork would copy.
    context = multiprocessing.get_context("spawn")
    workers = max(config.procs, 1)
    with (
        tempfile.TemporaryDirectory(prefix="connectpsp-bench-") as tmp,
        ProcessPoolExecutor(workers, mp_context=context) as pool,
    ):
        list(pool.map(_warm, range(workers)))
        for kind in config.databases:
            if kind == "postgres" and not _postgres_reachable(config.pg_url):
                _say(f"[postgres] skipped: {config.pg_url} is not reachable")
                rows.append(Row(kind, "skipped", "PostgreSQL not reachable"))
                continue
            directory = Path(tmp) / kind
            directory.mkdir()
            rows += bench_database(kind, config, pool, directory, _say)
    _say("")
    _say(render_table(rows))
    write_markdown(output, rows, config, started)
    _say(f"\nappended to {output} ({time.monotonic() - _T0:.0f} s)")
    return 0


_T0 = time.monotonic()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
