"""SQL storage for the outbox: jobs written with the state change that needs them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows, run_sql
from connectpsp.adapters.storage.times import times
from connectpsp.service.ports import Job

__all__ = ["SqlOutbox"]


class SqlOutbox:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def enqueue(
        self, topic: str, jobs: list[tuple[str, dict[str, Any]]], *, available_at: datetime
    ) -> None:
        if not jobs:
            return
        insert_rows(
            self._c,
            t.outbox,
            [
                {
                    "topic": topic,
                    "ref": ref,
                    "payload": json.dumps(payload, separators=(",", ":")),
                    "available_at": available_at,
                    "attempts": 0,
                    "failures": 0,
                    "created_at": available_at,
                }
                for ref, payload in jobs
            ],
        )

    def claim(self, topic: str, *, now: datetime, lease_until: datetime, limit: int) -> list[Job]:
        bind = times(self._c).bind
        at = bind(now)
        sql = _DUE
        if self._c.dialect.name == "postgresql":
            # Concurrent workers skip each other's rows instead of queueing on them.
            sql += " FOR UPDATE SKIP LOCKED"
        rows = run_sql(self._c, sql, (topic, at, at, limit))
        if not rows:
            return []
        run_sql(
            self._c,
            "UPDATE outbox SET locked_until = ?, attempts = attempts + 1 WHERE id IN ({in})",
            (bind(lease_until), [row[0] for row in rows]),
        )
        return [
            Job(job_id, topic, ref, json.loads(payload), attempts + 1, failures)
            for job_id, topic, ref, payload, attempts, failures in rows
        ]

    def finish(self, job_id: int, *, at: datetime) -> None:
        self.finish_many([job_id], at=at)

    def finish_many(self, job_ids: list[int], *, at: datetime) -> None:
        if job_ids:
            run_sql(
                self._c,
                "UPDATE outbox SET done_at = ?, locked_until = NULL WHERE id IN ({in})",
                (times(self._c).bind(at), job_ids),
            )

    def defer(self, job_id: int, *, until: datetime, failed: bool) -> None:
        self.defer_many([(job_id, until, failed)])

    def defer_many(self, deferrals: list[tuple[int, datetime, bool]]) -> None:
        if not deferrals:
            return
        bind = times(self._c).binder()
        run_sql(
            self._c,
            "UPDATE outbox SET available_at = ?, locked_until = NULL,"
            " failures = CASE WHEN ? = 1 THEN failures + 1 ELSE 0 END WHERE id = ?",
            [(bind(until), int(failed), job_id) for job_id, until, failed in deferrals],
        )


_DUE = (
    "SELECT id, topic, ref, payload, attempts, failures FROM outbox"
    " WHERE topic = ? AND done_at IS NULL AND available_at <= ?"
    " AND (locked_until IS NULL OR locked_until < ?) ORDER BY available_at, id LIMIT ?"
)
