"""The migrations build exactly the schema the code describes, on both databases."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.migrate import alembic_config, head_revision
from connectpsp.adapters.storage.schema import metadata
from connectpsp.bootstrap import Container
from connectpsp.settings import Settings
from tests.support import database


def test_migrations_match_the_metadata(container: Container) -> None:
    with container.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_sqlite_runs_durable(container: Container) -> None:
    if not container.db.is_sqlite:
        with container.db.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
        return
    with container.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30000


@pytest.mark.postgres
def test_an_idle_connection_the_server_dropped_is_replaced_before_use(tmp_path: Path) -> None:
    """Only connections idle for a second are pinged at checkout (not every one, as
    pool_pre_ping would): one the server dropped meanwhile is replaced, unseen. One back
    in the pool a moment ago is used as it is."""
    with database("postgres", tmp_path) as settings:
        _replaced_when_idle(settings)


def _replaced_when_idle(settings: Settings) -> None:
    db = Database(settings.database_url, schema=settings.database_schema, pool_size=1)
    killer = Database(settings.database_url, schema=settings.database_schema)
    try:

        def backend() -> int:
            with db.transaction(write=False) as tx:
                return int(tx.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())

        first = backend()
        assert backend() == first  # the same connection, straight back from the pool
        with killer.transaction(write=True) as tx:
            tx.conn.exec_driver_sql(f"SELECT pg_terminate_backend({first})")
            tx.commit()
        time.sleep(1.2)  # idle long enough to be pinged
        assert backend() != first  # replaced, and the transaction never saw it
    finally:
        db.dispose()
        killer.dispose()


def test_the_revisions_are_one_line_each_named_by_its_files_prefix() -> None:
    """``migrate`` knows the newest revision, and whether a database is at it, without
    loading Alembic: it takes the files' prefixes for the revisions."""
    scripts = ScriptDirectory.from_config(alembic_config())
    line = [r.revision for r in reversed(list(scripts.walk_revisions()))]
    assert [r.down_revision for r in reversed(list(scripts.walk_revisions()))] == [
        None,
        *line[:-1],
    ]
    assert line == [f"{n:04d}" for n in range(1, len(line) + 1)]
    assert head_revision() == scripts.get_current_head() == line[-1]
