"""SQL storage for the outbox: jobs written with the state change that needs them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows
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
        o = t.outbox.c
        due = (
            select(o.id, o.topic, o.ref, o.payload, o.attempts, o.failures)
            .where(
                o.topic == topic,
                o.done_at.is_(None),
                o.available_at <= now,
                or_(o.locked_until.is_(None), o.locked_until < now),
            )
            .order_by(o.available_at, o.id)
            .limit(limit)
        )
        if self._c.dialect.name == "postgresql":
            # Concurrent workers skip each other's rows instead of queueing on them.
            due = due.with_for_update(skip_locked=True)
        rows = self._c.execute(due).all()
        if not rows:
            return []
        self._c.execute(
            update(t.outbox)
            .where(o.id.in_([r.id for r in rows]))
            .values(locked_until=lease_until, attempts=o.attempts + 1)
        )
        return [
            Job(r.id, r.topic, r.ref, json.loads(r.payload), r.attempts + 1, r.failures)
            for r in rows
        ]

    def finish(self, job_id: int, *, at: datetime) -> None:
        o = t.outbox.c
        self._c.execute(
            update(t.outbox).where(o.id == job_id).values(done_at=at, locked_until=None)
        )

    def defer(self, job_id: int, *, until: datetime, failed: bool) -> None:
        o = t.outbox.c
        self._c.execute(
            update(t.outbox)
            .where(o.id == job_id)
            .values(
                available_at=until,
                locked_until=None,
                failures=o.failures + 1 if failed else 0,
            )
        )
