"""``connectpsp serve --workers N``: N API processes answering on one listening socket.

The parent binds the socket (a taken port fails at once), migrates the database and runs
every first start's setup once (the PSP's accounts, the signing keys, the sandbox's demo
keys), then starts each process fresh (``spawn``: no state, thread or connection of the
parent is inherited) and hands it the socket; the kernel spreads connections among them.
Only the first process runs the settlement worker (unless ``--no-worker``): one is enough
to claim every job, and more would take CPU from answering requests. A process that dies
is started again (one that could not start stops them all); SIGTERM or SIGINT stops
them all gracefully, each finishing the requests it holds.

With metrics on and no ``PROMETHEUS_MULTIPROC_DIR`` given, the processes share a private
directory, so any of them answers ``/metrics`` for all (docs/operations.md)."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from rich.console import Console

from connectpsp.cli.database import load_settings, open_container
from connectpsp.settings import Settings

__all__ = ["serve_processes"]

console = Console(stderr=True)
STARTUP_FAILURE = 3  # as a single `serve` that could not start
GRACE_SECONDS = 30.0  # what a stopping process gets to finish its requests
# A process that exits by itself with an error this soon after starting could not start
# (a bad setting, no database): starting it again would fail again, so all stop. One
# killed by a signal (the OOM killer, an operator) is started again, at most once a second.
QUICK_DEATH_SECONDS = 5.0
RESTART_PAUSE_SECONDS = 1.0


def _serve_one(sock: socket.socket, host: str, port: int, run_worker: bool) -> None:
    """One API process, on the parent's socket."""
    from connectpsp.cli.server import serve_here

    settings = load_settings(console_logs=True)
    serve_here(settings, host=host, port=port, run_worker=run_worker, migrate=False, sockets=[sock])


def serve_processes(
    settings: Settings, *, host: str, port: int, processes: int, no_worker: bool
) -> None:
    """Serve with ``processes`` API processes until SIGTERM or SIGINT."""
    private_metrics = None
    if settings.metrics and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Set before any process imports the metrics client, which reads it once.
        private_metrics = tempfile.mkdtemp(prefix="connectpsp-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = private_metrics
    try:
        try:
            sock = socket.create_server((host, port))
        except OSError as error:
            console.print(f"cannot listen on {host}:{port}: {error.strerror}")
            sys.exit(STARTUP_FAILURE)
        with sock:
            with open_container(settings, migrate=True):
                pass  # first-start setup, once, before the processes race to do it
            _supervise(sock, host, port, processes, no_worker)
    finally:
        if private_metrics:
            shutil.rmtree(private_metrics, ignore_errors=True)


def _supervise(sock: socket.socket, host: str, port: int, count: int, no_worker: bool) -> None:
    spawn = multiprocessing.get_context("spawn")
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def start(slot: int) -> tuple[BaseProcess, float]:
        process = spawn.Process(
            target=_serve_one,
            args=(sock, host, port, slot == 0 and not no_worker),
            name=f"connectpsp-api-{slot}",
        )
        process.start()
        return process, time.monotonic()

    running = [start(slot) for slot in range(count)]
    console.print(f"serving on http://{host}:{port} with {count} API processes")
    failed = False
    while not stopping and not failed:
        wait([p.sentinel for p, _ in running], timeout=0.5)
        for slot, (process, started) in enumerate(running):
            if process.is_alive() or stopping:
                continue
            age = time.monotonic() - started
            if (process.exitcode or 0) > 0 and age < QUICK_DEATH_SECONDS:
                console.print(f"API process {slot} exited at start ({process.exitcode}); stopping")
                failed = True
                break
            if age < RESTART_PAUSE_SECONDS:
                continue  # the next turn starts it
            console.print(f"API process {slot} exited ({process.exitcode}); starting another")
            running[slot] = start(slot)
    for process, _ in running:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for process, _ in running:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
    if failed:
        sys.exit(STARTUP_FAILURE)
