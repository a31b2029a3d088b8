"""SQL storage for the console's operators, their sessions and the audit log
(``service.operators.OperatorStore``). Each call is one short transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, delete, insert, or_, select, update

from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.operator_tables import audit_log, operator_sessions, operators
from connectpsp.domain.errors import StorageConflict, StorageUnavailable
from connectpsp.domain.operators import AuditEntry, Operator

__all__ = ["SqlOperatorStore"]

_o, _s, _a = operators.c, operator_sessions.c, audit_log.c
T = TypeVar("T")


class SqlOperatorStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, operator: Operator) -> None:
        row = {
            "id": operator.id,
            "email": operator.email,
            "password_hash": operator.password_hash,
            "active": operator.active,
            "created_at": operator.created_at,
        }
        with self._db.transaction(write=True) as tx:
            tx.conn.execute(insert(operators).values(**row))
            tx.commit()

    def by_email(self, email: str) -> Operator | None:
        with self._db.transaction(write=False) as tx:
            found = tx.conn.execute(select(operators).where(_o.email == email)).first()
        return _operator(found) if found is not None else None

    def listed(self) -> list[Operator]:
        with self._db.transaction(write=False) as tx:
            return [_operator(r) for r in tx.conn.execute(select(operators).order_by(_o.email))]

    def set_active(self, operator_id: str, active: bool) -> None:
        def write(conn: Connection) -> None:
            conn.execute(update(operators).where(_o.id == operator_id).values(active=active))
            if not active:
                conn.execute(delete(operator_sessions).where(_s.operator_id == operator_id))

        self._write(write)

    def open_session(
        self, digest: str, operator_id: str, *, now: datetime, expires_at: datetime
    ) -> None:
        row = {
            "digest": digest,
            "operator_id": operator_id,
            "created_at": now,
            "last_seen_at": now,
            "expires_at": expires_at,
        }
        self._write(lambda conn: conn.execute(insert(operator_sessions).values(**row)))

    def session(self, digest: str) -> tuple[Operator, datetime, datetime] | None:
        query = (
            select(operators, _s.last_seen_at, _s.expires_at)
            .join(operator_sessions, _s.operator_id == _o.id)
            .where(_s.digest == digest)
        )
        with self._db.transaction(write=False) as tx:
            found = tx.conn.execute(query).first()
        if found is None:
            return None
        return _operator(found), found.last_seen_at, found.expires_at

    def touch_session(self, digest: str, now: datetime) -> None:
        statement = update(operator_sessions).where(_s.digest == digest).values(last_seen_at=now)
        self._write(lambda conn: conn.execute(statement))

    def close_session(self, digest: str) -> None:
        self._write(lambda conn: conn.execute(delete(operator_sessions).where(_s.digest == digest)))

    def close_sessions(self, *, idle_since: datetime, begun_before: datetime) -> int:
        ended = delete(operator_sessions).where(
            or_(_s.last_seen_at <= idle_since, _s.created_at <= begun_before)
        )
        return self._write(lambda conn: int(conn.execute(ended).rowcount))

    def audit(self, entry: AuditEntry) -> int:
        row = {
            "at": entry.at,
            "operator_id": entry.operator_id,
            "operator_email": entry.operator_email[:120],
            "action": entry.action,
            "subject_kind": entry.subject_kind,
            "subject_id": entry.subject_id,
            "before": _json(entry.before),
            "after": _json(entry.after),
            "outcome": entry.outcome,
            "detail": entry.detail[:300] if entry.detail else None,
            "source": entry.source,
        }
        return self._write(
            lambda conn: int(
                conn.execute(insert(audit_log).values(**row).returning(_a.id)).scalar_one()
            )
        )

    def audit_outcome(
        self, entry_id: int, outcome: str, after: dict[str, Any] | None, detail: str | None
    ) -> None:
        statement = (
            update(audit_log)
            .where(_a.id == entry_id)
            .values(outcome=outcome, after=_json(after), detail=detail[:300] if detail else None)
        )
        self._write(lambda conn: conn.execute(statement))

    def audit_log(self, *, limit: int, before_id: int | None = None) -> list[AuditEntry]:
        query = select(audit_log).order_by(_a.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(_a.id < before_id)
        with self._db.transaction(write=False) as tx:
            return [_entry(r) for r in tx.conn.execute(query)]

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Only a deadlock the server broke conflicts here: run it again."""
        for _ in range(3):
            try:
                with self._db.transaction(write=True) as tx:
                    result = work(tx.conn)
                    tx.commit()
                return result
            except StorageConflict:
                continue
        raise StorageUnavailable()


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _operator(r: Row[Any]) -> Operator:
    return Operator(
        id=r.id,
        email=r.email,
        password_hash=r.password_hash,
        active=bool(r.active),
        created_at=r.created_at,
    )


def _entry(r: Row[Any]) -> AuditEntry:
    return AuditEntry(
        id=r.id,
        at=r.at,
        operator_id=r.operator_id,
        operator_email=r.operator_email,
        action=r.action,
        subject_kind=r.subject_kind,
        subject_id=r.subject_id,
        before=json.loads(r.before) if r.before else None,
        after=json.loads(r.after) if r.after else None,
        outcome=r.outcome,
        detail=r.detail,
        source=r.source,
    )
