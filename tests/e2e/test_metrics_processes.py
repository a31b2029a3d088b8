"""Several processes, one /metrics: two real ``connectpsp serve`` processes on one
database and one PROMETHEUS_MULTIPROC_DIR; either one's /metrics sums what both counted,
and a process that stops leaves the pool's sums (its counters stay). One of them runs
at CONNECTPSP_LOG_LEVEL=WARNING and logs none of its requests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from connectpsp.bootstrap import build
from connectpsp.settings import Settings
from tests.metrics_support import scrape, value
from tests.support import FakeClock, database, free_port, process_env


def start_api(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectpsp", "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the API did not come up"
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM  # after a graceful stop, as uvicorn ends


def test_two_api_processes_are_summed_by_either_ones_metrics(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as settings:
        run(settings, tmp_path)


def run(settings: Settings, tmp_path: Path) -> None:
    build(settings, clock=FakeClock()).close()  # migrated before either starts
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**process_env(settings), "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    ports = free_port(), free_port()
    logs = tmp_path / "a.log", tmp_path / "b.log"
    a = start_api(env, ports[0], logs[0])
    b = start_api({**env, "CONNECTPSP_LOG_LEVEL": "WARNING"}, ports[1], logs[1])
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, times in zip(urls, (3, 2), strict=True):
            for _ in range(times):
                assert httpx.get(url + "/readyz").status_code == 200
        livez = {"method": "GET", "route": "/readyz", "status": "200"}
        for url in urls:
            both = scrape(url)
            assert value(both, "connectpsp_http_requests_total", **livez) == 5
            assert value(both, "connectpsp_db_pool_capacity") == 2 * 64  # SQLite's 48 + 16
        stop(b)
        alone = scrape(urls[0])
        assert value(alone, "connectpsp_http_requests_total", **livez) == 5
        assert value(alone, "connectpsp_db_pool_capacity") == 64
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    requests_logged = ['"event":"request"' in line for line in logs[0].read_text().splitlines()]
    assert sum(requests_logged) >= 3
    quiet = logs[1].read_text().splitlines()
    assert not [line for line in quiet if '"level":"info"' in line or "request" in line]


def test_a_missing_multiprocess_directory_is_a_setting_error(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as settings:
        env = {**process_env(settings), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "absent")}
        done = subprocess.run(
            [sys.executable, "-m", "connectpsp", "serve", "--port", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert "PROMETHEUS_MULTIPROC_DIR" in done.stderr and "Traceback" not in done.stderr
