"""Engines and the unit of work.

SQLite: WAL, ``synchronous=FULL``, a busy timeout, and ``BEGIN IMMEDIATE`` for every
write transaction, so a balance check and the write that follows it cannot interleave
with another writer. Within one process, writers also queue on a lock instead of
spinning in SQLite's busy handler.

PostgreSQL: ``synchronous_commit=on``; row locks taken by conditional UPDATEs order
concurrent writers on the same balance.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, create_engine, event, exc, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from connectpsp.adapters.storage.pipeline import answer_in_pipeline, may_answer
from connectpsp.domain.errors import StorageConflict, StorageUnavailable

__all__ = [
    "PSYCOPG_CACHED_PARAMS",
    "Database",
    "Transaction",
    "insert_rows",
    "one_snapshot",
    "run_sql",
    "sqlite_file",
    "upsert",
]


class Database:
    def __init__(self, url: str, *, schema: str | None = None, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self.engine = _sqlite_engine(url) if self.is_sqlite else _pg_engine(url, schema, pool_size)

    def transaction(self, *, write: bool) -> Transaction:
        return Transaction(self, write=write)

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except exc.SQLAlchemyError:
            return False


def one_snapshot(conn: Connection) -> None:
    """Every later read of this read-only transaction sees one snapshot, as SQLite's
    always do; PostgreSQL's READ COMMITTED gives each statement its own, so a page read
    in several statements could mix what was before a commit with what was after it.
    The transaction's first statement."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names, or None for an in-memory database. Opening an engine
    never creates its directory: only a migration may create a database
    (``migrate.upgrade``), so a mistyped path is an error, not a new empty database."""
    path = make_url(url).database
    return Path(path) if path and path != ":memory:" else None


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": 30, "isolation_level": None, "check_same_thread": False},
        # As many as the threads that may read at once (the request thread pool's 40,
        # the writer, the worker), so connections are reused rather than reopened.
        pool_size=48,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "busy_timeout=30000",
            "foreign_keys=ON",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("connectpsp_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _pg_engine(url: str, schema: str | None, pool_size: int) -> Engine:
    options = "-c synchronous_commit=on"
    if schema:
        options += f" -c search_path={schema}"
    engine = create_engine(
        url,
        connect_args={"options": options, "connect_timeout": 5},
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_timeout=10,
    )
    _ping_when_idle(engine)
    answer_in_pipeline(engine)
    return engine


_IDLE_BEFORE_PING = 1.0  # seconds


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle for a while.

    ``pool_pre_ping`` pings at every checkout: a round trip added to every transaction,
    7% of the webhook dispatcher's GIL samples on PostgreSQL. A connection back in the pool
    a moment ago is as alive as a ping would show; one that sat idle is where a server
    restart or an idle timeout is found, and a dead one is replaced before use. A
    connection that dies in use fails its transaction (``StorageUnavailable``), and
    SQLAlchemy then drops every connection the pool held."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["fresh_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("fresh_at", 0.0) < _IDLE_BEFORE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError() from error  # the pool opens another


class Transaction:
    """One database transaction that rolls back unless ``commit()`` was called."""

    conn: Connection

    def __init__(self, db: Database, *, write: bool) -> None:
        self._db = db
        self._write = write
        self._committed = False
        self._locked = False

    def __enter__(self) -> Transaction:
        if self._write and self._db._write_lock is not None:
            self._db._write_lock.acquire()
            self._locked = True
        conn: Connection | None = None
        try:
            conn = self._db.engine.connect()
            self.conn = conn.execution_options(connectpsp_write=self._write)
            self.conn.begin()
        except BaseException as error:
            if conn is not None:
                with contextlib.suppress(exc.SQLAlchemyError):
                    conn.close()
            self._release_lock()
            if isinstance(error, exc.OperationalError):
                raise StorageUnavailable() from error
            raise
        return self

    def commit(self) -> None:
        self.conn.commit()
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                # If the connection is gone, the server rolls back for us.
                with contextlib.suppress(exc.SQLAlchemyError):
                    self.conn.rollback()
            self.conn.close()
        finally:
            self._release_lock()
        if _is_conflict(exc_value):
            raise StorageConflict() from exc_value
        if isinstance(exc_value, exc.OperationalError | exc.InterfaceError):
            raise StorageUnavailable() from exc_value

    def _release_lock(self) -> None:
        if self._locked and self._db._write_lock is not None:
            self._locked = False
            self._db._write_lock.release()


# PostgreSQL: unique violation, serialization failure, deadlock. SQLite: a unique or
# primary key taken. A CHECK that fails is a bug, not a race: it is not retried.
_CONFLICT_SQLSTATES = ("23505", "40001", "40P01")
_CONFLICT_SQLITE = ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


def _is_conflict(error: BaseException | None) -> bool:
    """A key taken by a concurrent writer, or a lock cycle the server broke: the same
    transaction, run again, sees what the other writer did."""
    if not isinstance(error, exc.DBAPIError):
        return False
    orig = error.orig
    return (
        getattr(orig, "sqlstate", None) in _CONFLICT_SQLSTATES
        or getattr(orig, "sqlite_errorname", None) in _CONFLICT_SQLITE
    )


def upsert(conn: Connection, table: Table) -> Any:
    """An INSERT that takes ON CONFLICT clauses, in the connection's dialect."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


_Compiled = tuple[str, tuple[str, ...] | None, list[tuple[str, Callable[[Any], Any]]]]
_inserts: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], _Compiled] = {}


def insert_rows(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    unless_taken: tuple[str, ...] = (),
) -> None:
    """Insert many rows (all with the same keys) in one ``executemany``; with
    ``unless_taken`` (a unique key's columns), a row whose key is taken is left out
    (``ON CONFLICT (...) DO NOTHING``).

    The statement is compiled once per dialect, table, columns and key, and each
    column's bind processor (aware datetimes to the database's form) is applied here:
    the hot path skips SQLAlchemy's per-row parameter machinery, which costs more than
    the insert itself."""
    if not rows:
        return
    columns = tuple(rows[0])
    key = (conn.dialect.name, table.name, columns, unless_taken)
    found = _inserts.get(key)
    if found is None:
        values: dict[str, Any] = {c: bindparam(c) for c in columns}
        statement = (
            upsert(conn, table)
            .values(values)
            .on_conflict_do_nothing(index_elements=list(unless_taken))
            if unless_taken
            else insert(table).values(values)
        )
        compiled = statement.compile(dialect=conn.dialect)
        order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        processors: list[tuple[str, Callable[[Any], Any]]] = []
        for c in columns:
            # The dialect's own processor: the bare type's would hand SQLite a naive
            # datetime, which sqlite3 writes without ".000000" on a whole second, and
            # that sorts before the same moment as every other statement binds it.
            found_processor = (
                table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            )
            if found_processor is not None:
                processors.append((c, found_processor))
        found = _inserts[key] = (compiled.string, order, processors)
    sql, order, processors = found
    if processors:
        # A batch's rows share their moments (one ``now`` per transaction): each distinct
        # value is converted once. Equal datetimes convert alike (to UTC).
        memos: list[tuple[str, Callable[[Any], Any], dict[Any, Any]]] = [
            (column, convert, {}) for column, convert in processors
        ]
        rows = [dict(row) for row in rows]
        for row in rows:
            for column, convert, memo in memos:
                value = row[column]
                try:
                    row[column] = memo[value]
                except KeyError:
                    row[column] = memo[value] = convert(value)
                except TypeError:  # unhashable
                    row[column] = convert(value)
    params: list[Any] = rows if order is None else [tuple(r[c] for c in order) for r in rows]
    _on_cursor(conn, sql, params, many=True)


PSYCOPG_CACHED_PARAMS = 50  # psycopg's MAX_CACHED_STATEMENT_PARAMS


def run_sql(
    conn: Connection,
    sql: str,
    params: tuple[Any, ...] | list[tuple[Any, ...]] = (),
    *,
    binary: bool = False,
) -> list[tuple[Any, ...]]:
    """A statement written for both databases, run as it is; the rows it returns.

    ``?`` marks each parameter (rewritten for psycopg), ``{in}`` becomes one mark per item
    of the last parameter (a list; on PostgreSQL, a long one makes ``IN ({in})`` ``= ANY``
    of one array), and ``{lock}`` becomes ``FOR UPDATE`` on PostgreSQL (SQLite's write
    transaction already excludes every other writer). A list of tuples runs the
    statement once per tuple. For the batch's hot statements: they skip SQLAlchemy's
    expression building, caching and result processing, so they bind plain values, and
    a time as ``storage.times`` converts it to and from each database's form. A list of
    tuples with ``RETURNING`` gives every run's rows. ``binary``: psycopg sends the
    parameters in binary (arrays of text then need no escaping). Inside ``pipelined``,
    a statement that cannot return rows is not waited for."""
    postgres = conn.dialect.name == "postgresql"
    many = isinstance(params, list)
    if "{in}" in sql:
        assert not many
        assert params
        assert isinstance(params[-1], list | tuple)
        *fixed, items = params
        long = len(fixed) + len(items) > PSYCOPG_CACHED_PARAMS
        if postgres and long and "IN ({in})" in sql:
            # One array, in binary: the same statement for a long list of any length.
            # psycopg parses again every statement of over fifty parameters (it caches
            # none of them), and the server plans each new text; a shorter list is
            # cheaper as parameters of its own (a list is dumped partly in Python).
            sql = sql.replace("IN ({in})", "= ANY(?)")
            params = (*fixed, list(items))
            binary = True
        else:
            sql = sql.replace("{in}", ", ".join("?" * len(items)))
            params = (*fixed, *items)
    sql = sql.replace("{lock}", "FOR UPDATE" if postgres else "")
    if postgres:
        sql = sql.replace("%", "%%").replace("?", "%b" if binary else "%s")
    return _on_cursor(conn, sql, params, many=many)


def _on_cursor(conn: Connection, sql: str, params: Any, *, many: bool) -> list[tuple[Any, ...]]:
    """Run on the transaction's own DBAPI connection; errors come out as SQLAlchemy's,
    so that ``Transaction`` maps them (conflict, unavailable) as it maps any other."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if many and " RETURNING " in sql:
            return _returning_many(conn, cursor, sql, params)
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        pipeline = conn.info.get("pipeline")
        if pipeline is not None:
            if not may_answer(sql):
                return []  # a write's answer is awaited at the pipeline's end
            pipeline.sync()
        return list(cursor.fetchall()) if cursor.description else []
    except dbapi_error as error:
        raise exc.DBAPIError.instance(sql, params, error, dbapi_error) from error
    finally:
        cursor.close()


def _returning_many(conn: Connection, cursor: Any, sql: str, params: Any) -> list[tuple[Any, ...]]:
    """The rows each run of a ``RETURNING`` statement gives, in order: one pipelined
    ``executemany`` on PostgreSQL (the round trips of a plain one), one statement at a
    time on SQLite (in process; its ``executemany`` returns no rows)."""
    rows: list[tuple[Any, ...]] = []
    if conn.dialect.name == "postgresql":
        cursor.executemany(sql, params, returning=True)
        while True:
            rows.extend(cursor.fetchall())
            if not cursor.nextset():
                return rows
    for one in params:
        cursor.execute(sql, one)
        rows.extend(cursor.fetchall())
    return rows
