"""What a command opens, and how its failures read: the settings, the database (refused
unless migrated, for commands that do not migrate), and the wired services. A database
failure becomes one line that names the database, never its password nor a statement's
parameters (hashes, ciphertexts)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from connectpsp.cli.errors import USAGE, CliError
from connectpsp.settings import Settings, SettingsError

if TYPE_CHECKING:
    from connectpsp.bootstrap import Container

__all__ = [
    "database_errors",
    "database_location",
    "database_problem",
    "load_settings",
    "open_container",
    "require_migrated",
]


def load_settings(*, console_logs: bool = False) -> Settings:
    """The settings, and the logs they ask for. A one-shot command logs (what it changed:
    a cash-in paid, say) to CONNECTPSP_LOG_FILE only, keeping its stdout and stderr for
    what it prints; ``serve`` and ``worker`` log to stderr too."""
    from connectpsp.logs import configure_logging

    try:
        settings = Settings.from_env()
    except SettingsError as error:
        raise CliError(str(error), USAGE) from None
    configure_logging(settings.log_level, file=settings.log_file, console=console_logs)
    return settings


@contextmanager
def open_container(settings: Settings, *, migrate: bool) -> Iterator[Container]:
    """The wired services, closed afterwards. With ``migrate`` the schema is brought up to
    date first; without, a database that is not migrated is refused before anything is
    opened or written (the container writes the PSP's accounts and signing key)."""
    from connectpsp.bootstrap import build

    with database_errors(settings):
        if not migrate:
            require_migrated(settings)
        try:
            container = build(settings, migrate=migrate)
        except SettingsError as error:  # the master key does not open this database
            raise CliError(str(error), USAGE) from None
        try:
            yield container
        finally:
            container.close()


@contextmanager
def database_errors(settings: Settings) -> Iterator[None]:
    """Database failures as one line that names the database (never its password)."""
    from sqlalchemy.exc import SQLAlchemyError

    from connectpsp.domain.errors import StorageUnavailable

    try:
        yield
    except (SQLAlchemyError, StorageUnavailable) as error:
        raise CliError(database_problem(error, settings)) from None
    except Exception as error:
        # Alembic's own error, when a migration ran: only then is Alembic loaded.
        alembic = sys.modules.get("alembic.util")
        if alembic is not None and isinstance(error, alembic.CommandError):
            raise CliError(database_problem(error, settings)) from None
        raise


def require_migrated(settings: Settings) -> None:
    from connectpsp.adapters.storage.db import Database, sqlite_file
    from connectpsp.adapters.storage.migrate import schema_status

    where = database_location(settings)
    if settings.database_url.startswith("sqlite"):
        file = sqlite_file(settings.database_url)
        if file is None or not file.is_file():
            raise CliError(
                f"there is no database at {where}; check CONNECTPSP_DATABASE_URL, or run "
                "`connectpsp migrate` to create it"
            )
    db = Database(settings.database_url, schema=settings.database_schema, pool_size=1)
    try:
        status = schema_status(db, schema=settings.database_schema)
    finally:
        db.dispose()
    if status.is_current:
        return
    if status.current is None:
        raise CliError(f"the database at {where} is not migrated; run `connectpsp migrate`")
    if not status.known:
        raise CliError(
            f"the database at {where} is at schema revision {status.current}, which this "
            "version of ConnectPSP does not know; run a ConnectPSP at least as new as the "
            "one that migrated it"
        )
    raise CliError(
        f"the database at {where} is at an older schema (revision {status.current}; this "
        f"version needs {status.head}); run `connectpsp migrate`"
    )


def database_location(settings: Settings) -> str:
    """The database, for messages: a SQLite file's path, or the PostgreSQL URL without its
    password or query (which may carry one) and with the schema."""
    from sqlalchemy.engine import make_url

    from connectpsp.adapters.storage.db import sqlite_file

    if settings.database_url.startswith("sqlite"):
        file = sqlite_file(settings.database_url)
        return str(file.absolute()) if file else "sqlite (in memory)"
    url = make_url(settings.database_url).set(query={})
    where = url.render_as_string(hide_password=True)
    return f"{where} (schema {settings.database_schema})" if settings.database_schema else where


# SQLSTATEs (PostgreSQL) and SQLite result codes that say something an operator can act on.
_NOT_MIGRATED_SQLSTATES = ("3F000", "42P01")  # no such schema, no such table
_SQLITE_PROBLEMS = {
    "SQLITE_NOTADB": "is not a SQLite database",
    "SQLITE_CORRUPT": "is corrupt",
    "SQLITE_BUSY": "is locked by another process; retry",
    "SQLITE_LOCKED": "is locked by another process; retry",
    "SQLITE_READONLY": "is read-only",
    "SQLITE_CANTOPEN": "cannot be opened",
    "SQLITE_PERM": "cannot be opened (permission denied)",
    "SQLITE_FULL": "cannot grow: the disk is full",
}


def database_problem(error: BaseException, settings: Settings) -> str:
    """One line for a database failure. A driver's message is shown only for a failure to
    connect, which ran no statement and so holds no parameters (and then without the
    password); a failed statement is described by its error code alone."""
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError, TimeoutError

    from connectpsp.domain.errors import StorageUnavailable

    where = database_location(settings)
    if isinstance(error, StorageUnavailable) and error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, CommandError):  # Alembic's own words: revisions, not rows
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"migrating the database at {where} failed: {first}"
    if isinstance(error, TimeoutError):
        return f"timed out waiting for a connection to the database at {where}"
    if not isinstance(error, DBAPIError):
        return f"the database at {where} could not be used ({type(error).__name__})"
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None)
    sqlite_code = getattr(orig, "sqlite_errorname", None)
    if error.statement is None and sqlite_code is None:
        reason = " ".join(str(orig).split())
        password = _password(settings)
        if password:
            reason = reason.replace(password, "***")
        return f"cannot connect to the database at {where}: {reason}"
    if sqlstate in _NOT_MIGRATED_SQLSTATES or "no such table" in str(orig):
        return f"the database at {where} is not migrated; run `connectpsp migrate`"
    if sqlstate == "42501":
        return f"the database user may not do this at {where} (permission denied)"
    if sqlite_code in _SQLITE_PROBLEMS:
        return f"the database at {where} {_SQLITE_PROBLEMS[sqlite_code]}"
    if sqlstate is None and sqlite_code is None:  # the connection broke mid-statement
        return f"lost the connection to the database at {where}; retry"
    code = f"SQLSTATE {sqlstate}" if sqlstate else sqlite_code
    return f"the database at {where} refused a statement ({type(error).__name__}, {code})"


def _password(settings: Settings) -> str | None:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).password
