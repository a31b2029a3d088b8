"""The webhook queue's hot statements, written once for both databases.

Publishing writes a transaction's messages and deliveries in one ``executemany`` each;
the dispatcher finds due deliveries, leases them, and records attempts, every cycle.
Built as SQLAlchemy expressions, each of these cost more Python than the database took
to run it (expression building, cache keys, per-value type processing): the drain of a
backlog spent most of its time there. So they are plain SQL run on the DB-API cursor
(``db.run_sql``), with the timestamps converted here exactly as the ``TZ`` column type
converts them, so that what they write sorts and compares with what every other
statement writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows, run_sql
from connectpsp.domain.webhooks import AttemptResult, DeliveryTask, DueDelivery, Endpoint

__all__ = [
    "due_deliveries",
    "endpoints_of",
    "lease_deliveries",
    "moments",
    "record_attempts",
    "unlease",
]

# Due, unleased, and to a live target: an endpoint enabled and not deleted, or a
# record's own URL.
_DUE = (
    "SELECT d.id, d.endpoint_id, d.url, d.next_attempt_at FROM webhook_deliveries d"
    " WHERE d.status = 'pending' AND d.next_attempt_at <= ?"
    " AND (d.locked_until IS NULL OR d.locked_until < ?)"
    " AND (d.endpoint_id IS NULL OR EXISTS (SELECT 1 FROM webhook_endpoints e"
    " WHERE e.id = d.endpoint_id AND e.status = 'enabled' AND e.deleted_at IS NULL))"
)

Convert = Callable[[Any], Any]
_moments: dict[str, tuple[Convert, Convert]] = {}


def moments(conn: Connection) -> tuple[Convert, Convert]:
    """The ``TZ`` column type's conversions in this connection's dialect: an aware
    datetime to what the driver binds, and what the driver returns to an aware datetime."""
    found = _moments.get(conn.dialect.name)
    if found is None:
        impl = t.TZ.dialect_impl(conn.dialect)
        to_db = impl.bind_processor(conn.dialect)
        from_db = impl.result_processor(conn.dialect, None)
        assert to_db is not None
        assert from_db is not None
        found = _moments[conn.dialect.name] = (to_db, from_db)
    return found


def _marks(items: Collection[Any]) -> str:
    return ", ".join("?" * len(items))


def due_deliveries(
    conn: Connection, *, now: datetime, limit: int, skip: Collection[str], only: str | None
) -> list[DueDelivery]:
    """Unleased due deliveries, oldest first, to live targets; none to a target in
    ``skip``, and with ``only`` to that target alone (an endpoint's id or a URL: ids
    and URLs never meet). On PostgreSQL they stay locked until commit, and concurrent
    dispatchers skip each other's."""
    to_db, from_db = moments(conn)
    at = to_db(now)
    sql = _DUE
    params: list[Any] = [at, at]
    if skip:
        targets = list(skip)
        sql += (
            f" AND (d.endpoint_id IS NULL OR d.endpoint_id NOT IN ({_marks(targets)}))"
            f" AND (d.endpoint_id IS NOT NULL OR d.url NOT IN ({_marks(targets)}))"
        )
        params += targets + targets
    if only is not None:
        sql += " AND (d.endpoint_id = ? OR (d.endpoint_id IS NULL AND d.url = ?))"
        params += [only, only]
    sql += " ORDER BY d.next_attempt_at LIMIT ?"
    params.append(limit)
    if conn.dialect.name == "postgresql":
        sql += " FOR UPDATE OF d SKIP LOCKED"
    rows = run_sql(conn, sql, tuple(params))
    return [DueDelivery(r[0], r[1], r[2], from_db(r[3])) for r in rows]


_LEASED = (
    "SELECT d.id, d.message_id, d.client_id, d.endpoint_id, d.url, d.attempts, m.body,"
    " e.secret_enc, e.previous_secret_enc, e.previous_secret_expires_at,"
    " c.webhook_secret_enc"
    " FROM webhook_deliveries d"
    " JOIN webhook_messages m ON m.id = d.message_id"
    " JOIN clients c ON c.id = d.client_id"
    " LEFT OUTER JOIN webhook_endpoints e ON e.id = d.endpoint_id"
    " WHERE d.id IN ({in}) ORDER BY d.next_attempt_at"
)


def lease_deliveries(
    conn: Connection, ids: list[str], *, lease_until: datetime
) -> list[DeliveryTask]:
    """Lease ``ids`` (found due in this transaction) until ``lease_until``; the tasks."""
    if not ids:
        return []
    to_db, from_db = moments(conn)
    run_sql(
        conn,
        "UPDATE webhook_deliveries SET locked_until = ? WHERE id IN ({in})",
        (to_db(lease_until), ids),
    )
    return [
        DeliveryTask(
            id=r[0],
            message_id=r[1],
            client_id=r[2],
            endpoint_id=r[3],
            url=r[4],
            attempts=r[5],
            body=bytes(r[6]),
            endpoint_secret_enc=r[7],
            previous_secret_enc=r[8],
            previous_secret_expires_at=from_db(r[9]),
            client_secret_enc=r[10],
        )
        for r in run_sql(conn, _LEASED, (ids,))
    ]


_RECORD = (
    "UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1,"
    " locked_until = NULL, last_status_code = ?, updated_at = ?,"
    " next_attempt_at = COALESCE(?, next_attempt_at)"
    " WHERE id = ? AND status = 'pending'"
)


def record_attempts(conn: Connection, results: list[AttemptResult]) -> None:
    """The attempts, and their deliveries' new status, in two ``executemany``. Only a
    pending delivery takes its result: one disabled or deleted meanwhile stays as it is."""
    if not results:
        return
    insert_rows(
        conn,
        t.webhook_attempts,
        [
            {
                "delivery_id": r.delivery_id,
                "attempted_at": r.attempt.attempted_at,
                "status_code": r.attempt.status_code,
                "latency_ms": r.attempt.latency_ms,
                "response_body": r.attempt.response_body,
                "error": r.attempt.error,
            }
            for r in results
        ],
    )
    to_db, _ = moments(conn)
    converted: dict[datetime | None, Any] = {None: None}
    for r in results:  # a batch's results share few moments
        for moment in (r.attempt.attempted_at, r.next_attempt_at):
            if moment not in converted:
                converted[moment] = to_db(moment)
    run_sql(
        conn,
        _RECORD,
        [
            (
                r.status.value,
                r.attempt.status_code,
                converted[r.attempt.attempted_at],
                converted[r.next_attempt_at],
                r.delivery_id,
            )
            for r in results
        ],
    )


def unlease(conn: Connection, ids: list[str]) -> None:
    """Give back leases taken for attempts that were not made."""
    if ids:
        run_sql(
            conn, "UPDATE webhook_deliveries SET locked_until = NULL WHERE id IN ({in})", (ids,)
        )


_ENDPOINTS = (
    "SELECT id, client_id, url, events, secret_enc, previous_secret_enc,"
    " previous_secret_expires_at, status, created_at FROM webhook_endpoints"
    " WHERE client_id = ? AND deleted_at IS NULL ORDER BY created_at"
)


def endpoints_of(conn: Connection, client_id: str) -> list[Endpoint]:
    """A client's endpoints that are not deleted, oldest first (publishing reads them at
    every commit with events)."""
    _, from_db = moments(conn)
    return [
        Endpoint(
            id=r[0],
            client_id=r[1],
            url=r[2],
            events=tuple(json.loads(r[3])),
            secret_enc=r[4],
            previous_secret_enc=r[5],
            previous_secret_expires_at=from_db(r[6]),
            enabled=r[7] == "enabled",
            created_at=from_db(r[8]),
        )
        for r in run_sql(conn, _ENDPOINTS, (client_id,))
    ]
