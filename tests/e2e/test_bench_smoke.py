"""``python -m bench --smoke``: every phase of the benchmark harness runs against the real
server and reports every row. Figures are not checked: the harness is tested, not the
machine. And the fraud checks' baseline server (``python -m bench.unchecked``) is checked
to be what its row says: the server with no check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from connectpsp.bootstrap import build

# Tens of seconds: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def run_smoke(database: str, tmp_path: Path) -> str:
    output = tmp_path / "BENCHMARKS.md"
    # The growth curve beside the report, not over the committed one.
    env = {
        **os.environ,
        "BENCH_DATABASES": database,
        "BENCH_GROWTH_PLOT": str(tmp_path / "growth.png"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        # Minutes, not seconds: on a loaded machine the servers' start-ups dominate.
        timeout=300,
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
    assert_bulk_payouts(report, database)


def assert_bulk_payouts(report: str, database: str) -> None:
    """The batch rows are measured against their baseline and issue 19's targets: the raw
    batch committed (a ratio, not "n/a"), and every accepted item's webhook arrived."""
    rows = {
        line.split(" | ")[1]: line
        for line in report.splitlines()
        if line.startswith(f"| {database} | ") and "batch" in line
    }
    accepted = rows["batch cash-outs/s, batches of 1,000, hot client"]
    assert "x raw SQL (the same acceptance in bulk)" in accepted, accepted
    assert "n/a raw SQL" not in accepted, accepted
    assert "issue 19's 20,000/s target" in accepted, accepted
    drained = rows["batch whole path: settled and webhook received/s"]
    assert "issue 19's 5,000/s target" in drained and "the batch accept rate" in drained
    sent = drained.split(" of ", 1)[1].split(" webhooks", 1)[0]
    assert f"; {sent} of {sent} webhooks" in drained, drained


def assert_growth(report: str, database: str, plot: Path) -> None:
    """Every size of the growth phase has its rows, each figure against the smallest
    size's and the reads against issue 19's 10 ms, and the curve was drawn as a PNG."""
    from bench.config import Config
    from bench.growth import measurements

    sizes = sorted(set(Config.from_env(smoke=True).growth_sizes))
    assert len(sizes) >= 3, sizes
    rows = {}
    for measurement in measurements(tuple(sizes)):
        found = [line for line in report.splitlines() if f"| {database} | {measurement} |" in line]
        assert len(found) == 1, f"no row for {measurement!r} in:\n{report}"
        assert found[0].split(" | ")[2].strip(), found[0]
        assert "errors" not in found[0], found[0]
        rows[measurement] = found[0]
    small, large = sizes[0], sizes[-1]
    assert (
        "the base of this curve"
        in rows[f"growth, {small:,} cash-outs preloaded: cash-outs/s at saturation, hot client"]
    )
    largest = f"growth, {large:,} cash-outs preloaded: "
    grown = rows[largest + "cash-outs/s at saturation, hot client"]
    assert "x the base's; within 15%: " in grown and f"{large - sizes[-2]:,} more" in grown
    assert (
        "x the base's; within 15%: " in rows[largest + "latency at 50% of saturation, hot client"]
    )
    for read in (
        "GET /cash-out, first page",
        "GET /cash-out/{internalCode}",
        "GET by externalReference",
    ):
        assert "issue 19's 10 ms target (p99): " in rows[largest + read], rows[largest + read]
    assert str(plot) in rows["growth curve"]
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_smoke_run_on_sqlite(tmp_path: Path) -> None:
    report = run_smoke("sqlite", tmp_path)
    assert_every_row(report, "sqlite")
    assert_growth(report, "sqlite", tmp_path / "growth.png")


@pytest.mark.postgres
def test_smoke_run_on_postgres(tmp_path: Path) -> None:
    report = run_smoke("postgres", tmp_path)
    assert_every_row(report, "postgres")
    assert_growth(report, "postgres", tmp_path / "growth.png")


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_unchecked_server_screens_nothing_and_records_no_decision(
    database: str, tmp_path: Path
) -> None:
    """The "every fraud check off" arm (``python -m bench.unchecked``) is the server with
    no check: a payee DICT marks is refused by ``serve`` and accepted by it, and it keeps
    no decision. Everything else is the server's: its 202 is the same answer."""
    # Function-level, as in ``assert_every_row``.
    from bench.config import Config
    from bench.fixtures import create_merchants, login, scratch_database
    from bench.server import Server

    with scratch_database(database, tmp_path, "unchecked", Config.from_env().pg_url) as settings:
        container = build(settings)
        merchant = create_merchants(container, 1, fee=1)[0]
        container.sandbox_fraud_markers.add(document="12345678909")  # the bench's payee
        container.close()
        unchecked = [sys.executable, "-m", "bench.unchecked"]
        with (
            Server(settings, worker=False, log=tmp_path / "on.log") as checked,
            Server(settings, worker=False, log=tmp_path / "off.log", command=unchecked) as bare,
        ):
            answers = {}
            for name, server in (("checked", checked), ("unchecked", bare)):
                [caller] = login(server.base_url, [merchant])
                answers[name] = httpx.post(
                    server.base_url + "/cash-out",
                    headers={
                        "Authorization": f"Bearer {caller.token}",
                        "ApplicationToken": caller.application_token,
                        "DigitalSignature": caller.signature,
                        "X-Idempotency-Key": f"key-{name}",
                    },
                    json={
                        "amount": "0.01",
                        "externalReference": f"ref-{name}",
                        "payee": {
                            "name": "Maria Silva",
                            "document": "12345678909",
                            "destination": {
                                "type": "PIX",
                                "pixKeyType": "CPF",
                                "pixKey": "12345678909",
                            },
                        },
                    },
                    timeout=30,
                )
        container = build(settings)
        decisions = container.risk.decisions(client_id=merchant.client_id)
        container.close()
    refused, accepted = answers["checked"], answers["unchecked"]
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "FRAUD_SUSPECTED", refused.text
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["externalReference"] == "ref-unchecked"
    assert accepted.json()["status"] == "PROCESSING"
    # Only the checked server's refusal was recorded.
    assert [d.code for d in decisions] == ["FRAUD_SUSPECTED"]


def test_the_sender_bench_measures_real_attempts() -> None:
    """``python -m bench.sender`` gets a 200 for every attempt it times (it raises
    otherwise) and prints the CPU each cost."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.sender", "--sends", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("sender CPU per webhook attempt: median "), done.stdout
