"""The long-running commands and the schema: ``serve``, ``worker``, ``migrate``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from connectpsp.cli.database import database_errors, load_settings, open_container

if TYPE_CHECKING:
    from connectpsp.bootstrap import Container

__all__ = ["migrate", "serve", "worker"]

console = Console()


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="API only.")] = False,
) -> None:
    """Migrate the database and serve the API."""
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
    settings = load_settings(console_logs=True)
    try:
        with open_container(settings, migrate=True) as container:
            api = create_app(
                container,
                background=None if no_worker else container.worker,
                console=container,
            )
            server.run(server.server_config(api, container.settings, host=host, port=port))
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
