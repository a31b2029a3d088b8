"""``make reliability``: the reliability and security suite, run long, on SQLite and on
PostgreSQL; writes ``docs/reliability.md`` with each test, what it checks, and the
figures of this run. The same tests run bounded in ``make test``.

The bounds come from the environment, so any of them can be raised or lowered:
``CONNECTPSP_CRASH_ITERATIONS`` (per database), ``CONNECTPSP_OUTAGES``,
``CONNECTPSP_MODEL_EXAMPLES`` (per database), ``CONNECTPSP_FUZZ_EXAMPLES``."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.conftest import FIGURES_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
LONG = {
    "CONNECTPSP_CRASH_ITERATIONS": "100",  # x 2 databases
    "CONNECTPSP_OUTAGES": "10",
    "CONNECTPSP_MODEL_EXAMPLES": "1000",  # x 2 databases
    "CONNECTPSP_FUZZ_EXAMPLES": "100",
}
TESTS = [
    "tests/reliability",
    "tests/e2e/test_worker_processes.py",
    "tests/e2e/test_contract_fuzzing.py",
    "tests/e2e/test_auth.py",
    "tests/e2e/test_concurrency.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests/e2e").glob("test_tenancy*.py")),
]
# What each test checks, by test function.
CHECKS = {
    "test_the_service_behaves_like_the_model": (
        "Hypothesis drives the real services through cash-outs (valid, invalid, retried "
        "with the same key), funding, settlement with every SPI outcome, worker crashes and "
        "restarts, and reads; every reply is compared with a pure-Python model. Invariants "
        "after every step: the ledger sums to zero, no negative balance, reserved = sum of "
        "pending cash-outs, everything terminal once drained."
    ),
    "test_kill_9_of_api_and_worker_under_load": (
        "Real API and worker processes are killed with SIGKILL at random moments while "
        "4 threads send cash-outs over HTTP (retrying lost answers with the same key). "
        "After each iteration, against the client's log of 202s: none lost, none paid "
        "twice at the rail, all terminal, ledger balanced, every terminal webhook delivered."
    ),
    "test_database_outage_under_load": (
        "A private PostgreSQL is stopped (immediate mode) and restarted in the middle of "
        "load. While it is down every answer is 503 SERVICE_UNAVAILABLE; the API and the "
        "worker recover on their own, and no acknowledged cash-out is lost."
    ),
    "test_kill_9_at_random_moments": (
        "A worker process is killed at random points over 600 cash-outs and restarted: "
        "each cash-out terminal once, the rail asked once, the ledger holds."
    ),
    "test_two_workers_share_one_postgres": (
        "Two worker processes on one PostgreSQL settle 500 cash-outs; no job is taken twice."
    ),
    "test_schemathesis_finds_nothing": (
        "Schemathesis against /openapi.json with valid credentials and signatures, positive "
        "and negative modes, stateful links: no 5xx, no schema violation."
    ),
}
DEFAULT_CHECK = "Forged, expired or cross-client requests are refused; concurrency holds."


def run(report: Path | None = None) -> int:
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="connectpsp-reliability-") as tmp:
        env = {**os.environ, **LONG, FIGURES_VARIABLE: tmp}
        env.update({k: os.environ[k] for k in LONG if k in os.environ})
        junit = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-q"]
        command += ["-p", "no:cacheprovider", f"--junitxml={junit}", *TESTS]
        status = subprocess.call(command, cwd=ROOT, env=env)
        results = _results(junit)
        figures = {
            data.pop("test"): data
            for data in (json.loads(p.read_text()) for p in Path(tmp).glob("*.json"))
        }
    text = _render(started, datetime.now(UTC), status, results, figures, env)
    (report or ROOT / "docs" / "reliability.md").write_text(text)
    print(f"wrote {report or 'docs/reliability.md'}; pytest exit status {status}")
    return status


def _results(junit: Path) -> list[tuple[str, str, float]]:
    """(test id, outcome, seconds) for every test case pytest ran."""
    if not junit.exists():
        return []
    rows = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "FAILED"
            elif child.tag == "skipped":
                outcome = "skipped"
        module = case.get("classname", "").replace(".", "/") + ".py"
        rows.append((f"{module}::{case.get('name')}", outcome, float(case.get("time", 0))))
    return rows


def _render(
    started: datetime,
    finished: datetime,
    status: int,
    results: list[tuple[str, str, float]],
    figures: dict[str, dict[str, Any]],
    env: dict[str, str],
) -> str:
    failed = [r for r in results if r[1] != "passed"]
    bounds = ", ".join(f"`{k}={env[k]}`" for k in LONG)
    lines = [
        "# Reliability and security suite",
        "",
        "Written by `make reliability` (`python -m tests.reliability.report`); the same tests",
        "run bounded in `make test`. Do not edit by hand: run it again.",
        "",
        f"- **Last run:** {started:%Y-%m-%d %H:%M} UTC, {(finished - started).seconds // 60} min,",
        f"  on {os.cpu_count()} cores, Python {platform.python_version()}.",
        f"- **Bounds:** {bounds}.",
        f"- **Result:** {len(results) - len(failed)} of {len(results)} tests passed"
        f" (pytest exit status {status}).",
        "",
        "## Headline figures",
        "",
        *_headline(results, figures),
        "",
        "## Each test",
        "",
        "| test | what it checks | result | seconds | figures |",
        "|---|---|---|---|---|",
    ]
    for test_id, outcome, seconds in results:
        function = test_id.split("::")[-1].split("[")[0]
        found = figures.get(test_id, {})
        shown = "; ".join(f"{k}: {_short(v)}" for k, v in found.items() if k != "summary")
        check = CHECKS.get(function, DEFAULT_CHECK)
        lines.append(f"| `{test_id}` | {check} | {outcome} | {seconds:.0f} | {shown} |")
    log_gate = figures.get("log gate", {})
    lines += [
        "",
        "## Logs",
        "",
        f"Every log line the run wrote ({log_gate.get('log_lines', '?')}) was scanned for "
        "tokens, secrets, signatures and unmasked CPF/CNPJ: "
        f"{log_gate.get('problems', '?')} found.",
        "",
    ]
    return "\n".join(lines)


def _headline(
    results: list[tuple[str, str, float]], figures: dict[str, dict[str, Any]]
) -> list[str]:
    def total(function: str, key: str) -> int:
        return sum(
            int(v.get(key, 0)) for k, v in figures.items() if k.split("::")[-1].startswith(function)
        )

    def failures(prefix: str) -> int:
        return sum(1 for t, o, _ in results if o != "passed" and prefix in t)

    crash = "test_kill_9_of_api_and_worker_under_load"
    return [
        f"- Crash iterations: {total(crash, 'iterations')}, invariant violations: "
        f"{total(crash, 'violations') + failures(crash)}"
        f" ({total(crash, 'acknowledged')} acknowledged cash-outs).",
        f"- Database outages: {total('test_database_outage', 'outages')}, acknowledged "
        f"cash-outs lost: {total('test_database_outage', 'violations')}.",
        f"- Model examples: {total('test_the_service_behaves_like_the_model', 'examples')}, "
        f"mismatches: {failures('test_model')}.",
        f"- Schemathesis failures: {failures('test_contract_fuzzing')}.",
        f"- Forged or cross-client requests accepted: "
        f"{failures('test_auth') + failures('test_tenancy')}.",
        f"- Secrets in logs: {figures.get('log gate', {}).get('problems', '?')}.",
    ]


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return text.replace("|", "/")


if __name__ == "__main__":
    sys.exit(run())
