"""The long-running commands and the schema: ``serve``, ``worker``, ``migrate``."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from connectpsp.cli.database import database_errors, load_settings, open_container
from connectpsp.settings import Settings

if TYPE_CHECKING:
    from connectpsp.bootstrap import Container

__all__ = ["migrate", "serve", "serve_here", "worker"]

console = Console()


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="API only: no settlement worker.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="API processes on the one port (the settlement worker runs in the first).",
        ),
    ] = 1,
) -> None:
    """Migrate the database and serve the API."""
    settings = load_settings(console_logs=True)
    if workers > 1:
        from connectpsp.cli.processes import serve_processes

        serve_processes(settings, host=host, port=port, processes=workers, no_worker=no_worker)
        return
    serve_here(settings, host=host, port=port, run_worker=not no_worker, migrate=True)


def serve_here(
    settings: Settings,
    *,
    host: str,
    port: int,
    run_worker: bool,
    migrate: bool,
    sockets: list[socket.socket] | None = None,
) -> None:
    """Serve the API in this process (on ``sockets`` if given) until SIGTERM or SIGINT."""
    import signal

    from connectpsp.api import server
    from connectpsp.api.app import create_app
    from connectpsp.metrics import process_exiting

    def forget_then_stop(signum: int, _frame: object) -> None:
        # uvicorn puts this handler back and raises its SIGTERM again once it has shut
        # down, so that the process ends by it: no ``finally`` runs after that.
        process_exiting()
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    signal.signal(signal.SIGTERM, forget_then_stop)
    try:
        with open_container(settings, migrate=migrate) as container:
            api = create_app(
                container,
                background=container.worker if run_worker else None,
                console=container,
            )
            config = server.server_config(api, container.settings, host=host, port=port)
            server.run(config, sockets=sockets)
    finally:
        process_exiting()


def worker() -> None:
    """Run the settlement worker alone (scale out: several on one PostgreSQL)."""
    import signal

    from connectpsp.metrics import process_exiting

    # Handlers first: a SIGTERM that arrives while we start up still stops us cleanly.
    started: list[Container] = []
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for container in started:
            container.worker.stop(timeout=0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    settings = load_settings(console_logs=True)
    try:
        with open_container(settings, migrate=True) as container:
            started.append(container)
            if not stopping:
                container.worker.run()
    finally:
        process_exiting()


def migrate() -> None:
    """Bring the database schema up to date (creating the SQLite file or the PostgreSQL
    schema if need be)."""
    from connectpsp.adapters.storage.db import Database
    from connectpsp.adapters.storage.migrate import upgrade

    settings = load_settings()
    with database_errors(settings):
        db = Database(settings.database_url, schema=settings.database_schema, pool_size=1)
        try:
            upgrade(db, schema=settings.database_schema)
        finally:
            db.dispose()
    console.print("database is up to date")
