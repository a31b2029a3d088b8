"""A batch's writes in one block (``UnitOfWork.pipelined``), on both databases: on
PostgreSQL the block is psycopg's pipeline mode, where a write is sent without waiting
for its answer. What a transaction reads inside it still comes back (a ``SELECT`` or a
``RETURNING``, hand-written or through SQLAlchemy), a key taken still surfaces as the
conflict the acceptance engine retries, and what it wrote commits as written."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from sqlalchemy import select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import run_sql
from connectpsp.adapters.storage.uow import SqlUnitOfWork
from connectpsp.bootstrap import Container
from connectpsp.domain.errors import StorageConflict

_INSERT = "INSERT INTO risk_totals (client_id, decided, accepted) VALUES (?, ?, ?)"


def _writing(container: Container) -> SqlUnitOfWork:
    return cast(SqlUnitOfWork, container.uow(write=True))


def _pipeline_on(uow: SqlUnitOfWork) -> bool:
    conn = uow.connection
    if conn.dialect.name != "postgresql":
        return False
    raw: Any = conn.connection.dbapi_connection
    return bool(raw.pgconn.pipeline_status)


def test_writes_in_the_block_commit_and_reads_in_it_get_their_rows(container: Container) -> None:
    tag = uuid.uuid4().hex[:8]
    postgres = container.db.engine.dialect.name == "postgresql"
    with _writing(container) as uow:
        with uow.pipelined():
            assert _pipeline_on(uow) is postgres  # on PostgreSQL, writes go unanswered
            run_sql(uow.connection, _INSERT, [(f"{tag}-{n}", n, 0) for n in range(3)])
            run_sql(uow.connection, _INSERT, (f"{tag}-3", 3, 0))
            # A read after unanswered writes sees them, by hand and through SQLAlchemy.
            read = run_sql(
                uow.connection,
                "SELECT client_id FROM risk_totals WHERE client_id LIKE ? ORDER BY client_id",
                (f"{tag}-%",),
            )
            assert [r[0] for r in read] == [f"{tag}-{n}" for n in range(4)]
            c = t.risk_totals.c
            found = uow.connection.execute(
                select(c.decided).where(c.client_id == f"{tag}-2")
            ).scalar_one()
            assert found == 2
            returned = run_sql(
                uow.connection,
                "UPDATE risk_totals SET accepted = decided * 10 WHERE client_id LIKE ?"
                " RETURNING client_id, accepted",
                (f"{tag}-%",),
            )
            assert sorted(returned) == [(f"{tag}-{n}", n * 10) for n in range(4)]
            with uow.pipelined():  # a block inside another: the same pipeline goes on
                run_sql(
                    uow.connection, "DELETE FROM risk_totals WHERE client_id = ?", (f"{tag}-0",)
                )
            assert _pipeline_on(uow) is postgres
            assert run_sql(
                uow.connection,
                "SELECT count(*) FROM risk_totals WHERE client_id LIKE ?",
                (f"{tag}-%",),
            ) == [(3,)]
        assert not _pipeline_on(uow)
        uow.commit()
    with container.db.transaction(write=False) as tx:
        rows = run_sql(
            tx.conn,
            "SELECT client_id, decided, accepted FROM risk_totals WHERE client_id LIKE ?",
            (f"{tag}-%",),
        )
    assert sorted(rows) == [(f"{tag}-{n}", n, n * 10) for n in range(1, 4)]


def test_a_key_taken_in_the_block_is_a_conflict_and_nothing_of_it_commits(
    container: Container,
) -> None:
    tag = uuid.uuid4().hex[:8]
    with _writing(container) as uow:
        run_sql(uow.connection, _INSERT, (f"{tag}-taken", 1, 1))
        uow.commit()

    def clash() -> None:
        with _writing(container) as uow:
            with uow.pipelined():
                run_sql(uow.connection, _INSERT, (f"{tag}-new", 1, 1))
                run_sql(uow.connection, _INSERT, (f"{tag}-taken", 2, 2))  # the key is taken
                run_sql(uow.connection, _INSERT, (f"{tag}-after", 1, 1))
            uow.commit()

    with pytest.raises(StorageConflict):
        clash()
    with container.db.transaction(write=False) as tx:
        rows = run_sql(
            tx.conn,
            "SELECT client_id, decided FROM risk_totals WHERE client_id LIKE ?",
            (f"{tag}-%",),
        )
    assert rows == [(f"{tag}-taken", 1)]
    # The connection went back to the pool whole: the next transaction on it works.
    with _writing(container) as uow:
        with uow.pipelined():
            run_sql(uow.connection, _INSERT, (f"{tag}-next", 1, 1))
        uow.commit()


def test_a_with_that_writes_and_then_selects_gets_its_rows(container: Container) -> None:
    if container.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no data-modifying WITH: nothing to pipeline")
    tag = uuid.uuid4().hex[:8]
    with _writing(container) as uow:
        with uow.pipelined():
            run_sql(uow.connection, _INSERT, (f"{tag}-a", 1, 0))
            found = run_sql(
                uow.connection,
                "WITH added AS (INSERT INTO risk_totals (client_id, decided, accepted)"
                " VALUES (?, 2, 0)) SELECT client_id FROM risk_totals WHERE client_id LIKE ?",
                (f"{tag}-b", f"{tag}-%"),
            )
            # Its main statement reads what was there before it (one snapshot).
            assert found == [(f"{tag}-a",)]
        uow.commit()
    with container.db.transaction(write=False) as tx:
        rows = run_sql(
            tx.conn, "SELECT client_id FROM risk_totals WHERE client_id LIKE ?", (f"{tag}-%",)
        )
    assert sorted(rows) == [(f"{tag}-a",), (f"{tag}-b",)]
