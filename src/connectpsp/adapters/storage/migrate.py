"""Run the Alembic migrations programmatically (``connectpsp migrate``), and tell whether a
database is migrated without changing it.

Every process starts by making sure its database is migrated. Alembic (with Mako and
Pygments) took a tenth of a second to import and more to load the scripts, so a
database already at the newest revision is recognised without it: the revisions are one
line, each named by its file's four-digit prefix (a test holds them to it), and the
database's own is one row of ``alembic_version``."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import exc, inspect, text

from connectpsp.adapters.storage.db import Database, sqlite_file
from connectpsp.domain.errors import StorageUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "SchemaStatus",
    "alembic_config",
    "head_revision",
    "is_at_head",
    "schema_status",
    "upgrade",
]

_HERE = Path(__file__).parent


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE / "migrations"))
    return config


def upgrade(db: Database, *, schema: str | None = None, to: str = "head") -> None:
    """Bring the database to the newest revision (or to ``to``), creating what it needs
    first: a SQLite file's directory, a PostgreSQL ``schema`` that does not exist yet."""
    if to == "head" and _current_revision(db, schema) == head_revision():
        return  # every start but the first, without loading Alembic
    from alembic import command

    file = sqlite_file(db.url) if db.is_sqlite else None
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    config = alembic_config()
    # One writer at a time: on SQLite the first statement takes the write lock; on
    # PostgreSQL an advisory lock keeps two starting servers from racing.
    with db.engine.begin() as conn:
        if not db.is_sqlite:
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7349012)")
            if schema:
                quoted = conn.dialect.identifier_preparer.quote_identifier(schema)
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        config.attributes["connection"] = conn
        command.upgrade(config, to)


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands against this version's migrations."""

    current: str | None  # None: no ConnectPSP schema at all (no file, schema or tables)
    head: str
    known: bool  # ``current`` is one of this version's revisions

    @property
    def is_current(self) -> bool:
        return self.current == self.head


def schema_status(db: Database, *, schema: str | None = None) -> SchemaStatus:
    """Read where the database stands, changing nothing: a missing SQLite file is not
    created, nor a missing PostgreSQL schema, nor Alembic's version table."""
    head = head_revision()
    current = _current_revision(db, schema)
    known = current is None or current in _revisions()
    return SchemaStatus(current=current, head=head, known=known)


def head_revision() -> str:
    """This version's newest revision."""
    return _revisions()[-1]


@functools.cache
def _revisions() -> list[str]:
    """This version's revisions, oldest first: the migration files' prefixes."""
    versions = _HERE / "migrations" / "versions"
    return sorted(p.name[:4] for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))


def is_at_head(db: Database, *, schema: str | None = None) -> bool:
    """Whether the database is at ``head_revision()``, changing nothing (a readiness
    check); ``StorageUnavailable`` if it does not answer."""
    try:
        return _current_revision(db, schema) == head_revision()
    except exc.SQLAlchemyError:
        raise StorageUnavailable() from None


def _current_revision(db: Database, schema: str | None) -> str | None:
    if db.is_sqlite:
        file = sqlite_file(db.url)
        if file is None or not file.is_file():  # connecting would create it
            return None
    with db.engine.connect() as conn:
        if schema and not db.is_sqlite:
            found = conn.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": schema}
            ).first()
            if found is None:
                return None
        if not inspect(conn).has_table("alembic_version"):  # as Alembic reads it
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])
