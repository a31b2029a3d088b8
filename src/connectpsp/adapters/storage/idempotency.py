"""SQL storage for the acceptance engine's stored outcomes, by idempotency key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows, run_sql
from connectpsp.service.ports import StoredOutcome

__all__ = ["SqlIdempotency"]


class SqlIdempotency:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def find(self, slots: list[tuple[str, str]]) -> dict[tuple[str, str], StoredOutcome]:
        if not slots:
            return {}
        rows = run_sql(
            self._c,
            "SELECT client_id, key, fingerprint, outcome FROM idempotency_keys WHERE key IN ({in})",
            (sorted({key for _, key in slots}),),
        )
        wanted = set(slots)
        return {
            (client_id, key): StoredOutcome(client_id, key, fingerprint, bytes(outcome))
            for client_id, key, fingerprint, outcome in rows
            if (client_id, key) in wanted
        }

    def store(self, outcomes: list[StoredOutcome], *, at: datetime) -> None:
        if not outcomes:
            return
        insert_rows(
            self._c,
            t.idempotency_keys,
            [
                {
                    "client_id": o.client_id,
                    "key": o.key,
                    "fingerprint": o.fingerprint,
                    "outcome": o.outcome,
                    "created_at": at,
                }
                for o in outcomes
            ],
        )

    def forget_before(self, cutoff: datetime) -> int:
        k = t.idempotency_keys.c
        return int(
            self._c.execute(t.idempotency_keys.delete().where(k.created_at < cutoff)).rowcount
        )
