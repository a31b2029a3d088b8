"""SQL storage for the keys that sign dynamic codes' locations.

Creating the first key and rotating are check-then-write: on PostgreSQL the table is
locked for the transaction, so two processes starting at once make one key, not two
(SQLite's write transaction, BEGIN IMMEDIATE, is exclusive already).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, insert, select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from connectpsp.service.ports import StoredLocationKey

__all__ = ["SqlLocationKeyStore"]

_keys = t.location_keys.c


class SqlLocationKeyStore:
    """Each call is one short transaction of its own."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self) -> list[StoredLocationKey]:
        with self._db.transaction(write=False) as tx:
            rows = tx.conn.execute(
                select(
                    _keys.kid, _keys.private_key_enc, _keys.created_at, _keys.retired_at
                ).order_by(_keys.created_at, _keys.kid)
            ).all()
        return [
            StoredLocationKey(r.kid, r.private_key_enc, r.created_at, r.retired_at) for r in rows
        ]

    def add_first(self, key: StoredLocationKey) -> bool:
        with self._db.transaction(write=True) as tx:
            self._lock(tx.conn)
            if tx.conn.execute(select(func.count()).select_from(t.location_keys)).scalar_one():
                return False
            self._insert(tx.conn, key)
            tx.commit()
        return True

    def rotate(self, key: StoredLocationKey, retire_at: datetime) -> None:
        with self._db.transaction(write=True) as tx:
            self._lock(tx.conn)
            tx.conn.execute(
                update(t.location_keys)
                .where(_keys.retired_at.is_(None))
                .values(retired_at=retire_at)
            )
            self._insert(tx.conn, key)
            tx.commit()

    def _lock(self, conn: Connection) -> None:
        if not self._db.is_sqlite:
            # Blocks other writers of the table (not its readers) until the commit.
            conn.exec_driver_sql("LOCK TABLE location_keys IN SHARE ROW EXCLUSIVE MODE")

    @staticmethod
    def _insert(conn: Connection, key: StoredLocationKey) -> None:
        conn.execute(
            insert(t.location_keys).values(
                kid=key.kid,
                private_key_enc=key.private_key_enc,
                created_at=key.created_at,
                retired_at=key.retired_at,
            )
        )
