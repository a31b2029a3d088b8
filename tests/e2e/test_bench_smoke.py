"""``python -m bench --smoke``: every phase of the benchmark harness runs against the real
server and reports every row. Figures are not checked: the harness is tested, not the
machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_smoke(database: str, tmp_path: Path) -> str:
    output = tmp_path / "BENCHMARKS.md"
    env = {**os.environ, "BENCH_DATABASES": database}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return output.read_text()


def assert_every_row(report: str, database: str) -> None:
    # Imported here: whether ruff files ``bench`` as first- or third-party depends on its
    # ``src`` setting, and a function-level import sorts the same either way.
    from bench.report import MEASUREMENTS

    assert "- machine: " in report and "- command: `python -m bench --smoke`" in report
    for measurement in MEASUREMENTS:
        rows = [line for line in report.splitlines() if f"| {database} | {measurement} |" in line]
        assert len(rows) == 1, f"no row for {measurement!r} in:\n{report}"
        assert rows[0].split(" | ")[2].strip(), rows[0]
        # A row that counts failed requests or statements measures something broken.
        assert "errors" not in rows[0], rows[0]


def test_smoke_run_on_sqlite(tmp_path: Path) -> None:
    assert_every_row(run_smoke("sqlite", tmp_path), "sqlite")


@pytest.mark.postgres
def test_smoke_run_on_postgres(tmp_path: Path) -> None:
    assert_every_row(run_smoke("postgres", tmp_path), "postgres")
