"""SQL storage for the token throttle: failed attempts as rows, counted in a sliding
window, and the (clientId, source) pairs that got tokens.

One row per failure, rather than a counter per fixed window: the window slides exactly
(no double burst at a window's edge), Retry-After is the moment the count falls back
under the limit, and concurrent failures only insert, so they never wait on one hot
row. Rows are written only for attempts that reached argon2, so there are never more
than verification can produce in a window; the worker prunes the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, func, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database, insert_rows, upsert
from connectpsp.domain.errors import StorageConflict, StorageUnavailable

__all__ = ["SqlThrottleStore"]

_failures = t.auth_failures.c
_known = t.auth_known_sources.c


class SqlThrottleStore:
    """Each call is one short transaction of its own."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def over_limit(self, since: datetime, limits: Mapping[str, int]) -> dict[str, datetime]:
        recent = (_failures.scope_key.in_(list(limits)), _failures.at > since)
        with self._db.transaction(write=False) as tx:
            counts = tx.conn.execute(
                select(_failures.scope_key, func.count())
                .where(*recent)
                .group_by(_failures.scope_key)
            ).all()
            over: dict[str, datetime] = {}
            for key, count in counts:
                if count < limits[key]:
                    continue
                # The key is back under its limit once this failure leaves the window.
                at = tx.conn.execute(
                    select(_failures.at)
                    .where(_failures.scope_key == key, _failures.at > since)
                    .order_by(_failures.at)
                    .offset(count - limits[key])
                    .limit(1)
                ).scalar()
                if at is not None:
                    over[key] = at
        return over

    def succeeded_since(self, key: str, since: datetime) -> bool:
        with self._db.transaction(write=False) as tx:
            found = tx.conn.execute(
                select(_known.succeeded_at).where(_known.pair_key == key)
            ).scalar()
        return found is not None and found > since

    def record_failure(self, keys: Sequence[str], at: datetime) -> None:
        rows = [{"scope_key": key, "at": at} for key in keys]
        self._write(lambda conn: insert_rows(conn, t.auth_failures, rows))

    def record_success(self, key: str, at: datetime) -> None:
        def write(conn: Connection) -> None:
            conn.execute(t.auth_failures.delete().where(_failures.scope_key == key))
            stmt = upsert(conn, t.auth_known_sources).values(pair_key=key, succeeded_at=at)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[_known.pair_key],
                    set_={"succeeded_at": stmt.excluded.succeeded_at},
                )
            )

        self._write(write)

    def prune(self, failures_before: datetime, successes_before: datetime) -> int:
        with self._db.transaction(write=True) as tx:
            dropped = tx.conn.execute(
                t.auth_failures.delete().where(_failures.at <= failures_before)
            ).rowcount
            dropped += tx.conn.execute(
                t.auth_known_sources.delete().where(_known.succeeded_at <= successes_before)
            ).rowcount
            tx.commit()
        return int(dropped)

    def _write(self, work: Callable[[Connection], None]) -> None:
        """Nothing here can conflict but a deadlock the server broke: run it again. An
        error of the database is a 503 (``StorageUnavailable``), never a 500."""
        for _ in range(3):
            try:
                with self._db.transaction(write=True) as tx:
                    work(tx.conn)
                    tx.commit()
                return
            except StorageConflict:
                continue
        raise StorageUnavailable()
