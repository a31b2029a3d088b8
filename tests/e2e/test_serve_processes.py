"""``connectpsp serve --workers 2`` for real, on SQLite and PostgreSQL: two API processes
on one port both answer, concurrent cash-outs are each accepted once and settled by the
first process's worker, ``/metrics`` sums both, a killed process is replaced while the
other serves, and SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from connectpsp.bootstrap import build
from connectpsp.settings import Settings
from tests.invariants import ledger_problems
from tests.metrics_support import scrape, value
from tests.support import (
    Api,
    FakeClock,
    RunningServer,
    cash_out_body,
    free_port,
    new_merchant,
    process_env,
    wait_terminal,
)


def api_processes(parent: int) -> list[int]:
    """The parent's API processes (not multiprocessing's resource tracker)."""
    found = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in found if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def wait_for(check: Callable[[], bool], what: Callable[[], str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what()
        time.sleep(0.05)


def up(url: str) -> bool:
    try:
        return httpx.get(url + "/livez", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def requests_by_process(directory: Path, route: str) -> dict[int, float]:
    """Requests to ``route`` each process counted, from its own metrics file."""
    counted = {}
    for file in directory.glob("counter_*.db"):
        pid = int(file.stem.removeprefix("counter_"))
        total = 0.0
        for metric in MultiProcessCollector.merge([str(file)], accumulate=True):
            for sample in metric.samples:
                if (
                    sample.name == "connectpsp_http_requests_total"
                    and sample.labels.get("route") == route
                ):
                    total += sample.value
        counted[pid] = total
    return counted


@pytest.fixture
def two_processes(
    db_settings: Settings, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path, Settings]]:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    port = free_port()
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectpsp", "serve", "--workers", "2", "--port", str(port)],
        env={**process_env(db_settings), "PROMETHEUS_MULTIPROC_DIR": str(shared)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: both_answer(proc.pid, url, shared), log.read_text)
        yield proc, url, shared, db_settings
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            for pid in api_processes_left(proc.pid):
                os.kill(pid, signal.SIGKILL)


def both_answer(parent: int, url: str, shared: Path) -> bool:
    """Whether each of the two API processes has answered a request: one more is sent on a
    connection of its own (a process still starting takes none of them)."""
    up(url)
    live = api_processes_left(parent)
    answered = {pid for pid, n in requests_by_process(shared, "/livez").items() if n > 0}
    return len(live) == 2 and set(live) <= answered


def kill_one_and_see_it_replaced(parent: int, url: str, shared: Path) -> None:
    """SIGKILL one API process: the other answers meanwhile, and a new one takes its place."""
    first, second = api_processes(parent)
    os.kill(second, signal.SIGKILL)
    assert httpx.get(url + "/livez").status_code == 200
    wait_for(lambda: both_answer(parent, url, shared), lambda: "no process replaced the killed one")
    assert first in api_processes(parent) and second not in api_processes(parent)


def api_processes_left(parent: int) -> list[int]:
    try:
        return api_processes(parent)
    except FileNotFoundError:
        return []


def test_two_api_processes_share_the_port_the_work_and_the_metrics(
    two_processes: tuple[subprocess.Popen[bytes], str, Path, Settings],
) -> None:
    proc, url, shared, settings = two_processes
    # Killed seconds after it started, by a signal: not a process that could not start.
    kill_one_and_see_it_replaced(proc.pid, url, shared)
    container = build(settings, clock=FakeClock(), migrate=False)
    try:
        m = new_merchant(RunningServer(container, url, FakeClock()), fund=1_000_00)

        def one(n: int) -> str:
            # A connection of its own each: the kernel hands each to either process.
            api = Api(m.server, m.creds)
            api._token = m.token
            try:
                reply = api.cash_out(cash_out_body(amount="1.00"))
                assert reply.status_code == 202, reply.text
                return str(reply.json()["internalCode"])
            finally:
                api.close()

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(one, range(40)))
        assert len(set(codes)) == 40
        assert {wait_terminal(m, code)["status"] for code in codes} == {"COMPLETED"}
        assert m.balance()["available"] == 960  # no fee: the default plan is free
        assert ledger_problems(container.db) == []

        answered = requests_by_process(shared, "/cash-out")
        assert sum(answered.values()) == 40
        assert len([pid for pid, n in answered.items() if n > 0]) == 2, answered
        assert (
            value(
                scrape(url),
                "connectpsp_http_requests_total",
                method="POST",
                route="/cash-out",
                status="202",
            )
            == 40
        )

        kill_one_and_see_it_replaced(proc.pid, url, shared)
        reply = m.cash_out(cash_out_body(amount="1.00"))
        assert reply.status_code == 202
        m.close()
    finally:
        container.close()

    children = api_processes(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=40) == 0
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]


def test_a_taken_port_is_a_clear_failure(db_settings: Settings, tmp_path: Path) -> None:
    build(db_settings, clock=FakeClock()).close()
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        done = subprocess.run(
            [sys.executable, "-m", "connectpsp", "serve", "--workers", "2", "--port", str(port)],
            env=process_env(db_settings),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 3, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stdout + done.stderr
