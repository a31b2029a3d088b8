"""The real server, ``python -m connectpsp serve``, as a subprocess on a free port."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from connectpsp.settings import Settings

__all__ = ["Server", "cpu_seconds", "free_port", "peak_rss_mib", "process_env"]

_CHECKOUT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(settings: Settings) -> dict[str, str]:
    """The environment that points a ``connectpsp`` process at ``settings``' database."""
    env = {
        **os.environ,
        "CONNECTPSP_DATABASE_URL": settings.database_url,
        "CONNECTPSP_MASTER_KEY": base64.urlsafe_b64encode(settings.master_key).decode(),
        "CONNECTPSP_VAR_DIR": str(settings.var_dir),
        # The rail answers at once: we measure ConnectPSP, not the simulated network.
        "CONNECTPSP_SANDBOX_LATENCY_MS": "0",
        "CONNECTPSP_WORKER_POLL_MS": "20",
        # Every load generator comes from 127.0.0.1; never let the limiter interfere.
        "CONNECTPSP_TOKEN_FAILURES_PER_IP": "1000000",
        "CONNECTPSP_TOKEN_FAILURES_PER_CLIENT": "1000000",
    }
    if settings.database_schema:
        env["CONNECTPSP_DATABASE_SCHEMA"] = settings.database_schema
    return env


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB; 0 if it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) the process has used so far; 0 if it cannot be read.
    Less disturbed than a rate by whatever else the machine runs meanwhile."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime: the 14th and 15th fields, counted from the pid.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (``serve --workers``' API processes), by their parent
    id in /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class Server:
    """``with Server(settings, worker=...) as server:`` serves until the block ends.

    Logs go to a file in the var dir: JSON lines to a pipe nobody reads would block the
    server once the pipe filled up."""

    def __init__(
        self,
        settings: Settings,
        *,
        worker: bool,
        log: Path,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        processes: int = 1,
    ) -> None:
        """``command``: another way to serve the app (``bench.stacks``), given the port;
        ``env``: more environment variables (``CONNECTPSP_METRICS``, say); ``processes``:
        API processes (``serve --workers``)."""
        self._processes = processes
        self.port = free_port()
        self._env = env or {}
        self._command = command
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._settings = settings
        self._worker = worker
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None
        self.peak_rss_mib = 0.0

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far, its API processes' included."""
        return sum(cpu_seconds(pid) for pid in (self.pid, *_children(self.pid)))

    def __enter__(self) -> Server:
        if self._command is not None:
            command = [*self._command, str(self.port)]
        else:
            command = [sys.executable, "-m", "connectpsp", "serve", "--port", str(self.port)]
            if not self._worker:
                command.append("--no-worker")
            if self._processes > 1:
                command += ["--workers", str(self._processes)]
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command,
                env={**process_env(self._settings), **self._env},
                stdout=log,
                stderr=log,
                # ``python -m bench.*`` finds the package from the checkout, wherever the
                # harness was started.
                cwd=_CHECKOUT if self._command is not None else None,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the server exited; see {self._log}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the server did not start; see {self._log}")

    def __exit__(self, *_: Any) -> None:
        if self._proc is None:
            return
        # Read before it exits: /proc/<pid> goes with the process.
        self.peak_rss_mib = peak_rss_mib(self._proc.pid)
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
