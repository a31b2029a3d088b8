"""SQL storage for risk decisions and the payees each client has paid."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows, run_sql
from connectpsp.domain.risk import Attempt, Check, Decision

__all__ = ["SqlRisk"]


class SqlRisk:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def attempts_since(self, client_ids: list[str], since: datetime) -> dict[str, list[Attempt]]:
        d = t.risk_decisions.c
        found: dict[str, list[Attempt]] = defaultdict(list)
        if not client_ids:
            return found
        rows = self._c.execute(
            select(d.client_id, d.at, d.amount, d.code)
            .where(d.client_id.in_(client_ids), d.at > since)
            .order_by(d.at)
        )
        for row in rows:
            found[row.client_id].append(Attempt(row.at, row.amount, row.code is None))
        return found

    def paid(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        if not pairs:
            return set()
        rows = run_sql(
            self._c,
            "SELECT client_id, payee FROM client_payees WHERE payee IN ({in})",
            (sorted({payee for _, payee in pairs}),),
        )
        return {(client_id, payee) for client_id, payee in rows} & set(pairs)

    def record(self, decisions: list[Decision]) -> None:
        if not decisions:
            return
        insert_rows(self._c, t.risk_decisions, [_row(d) for d in decisions])
        first: dict[tuple[str, str], datetime] = {}
        for d in decisions:
            if d.accepted:
                first.setdefault((d.client_id, d.payee), d.at)
        # One precompiled statement for the batch: built per pair, it cost more than
        # the decisions' own insert (python -m bench.profile).
        insert_rows(
            self._c,
            t.client_payees,
            [
                {"client_id": client_id, "payee": payee, "first_paid_at": at}
                for (client_id, payee), at in sorted(first.items())
            ],
            unless_taken=("payee", "client_id"),
        )

    def decisions(
        self, *, client_id: str | None, since: datetime | None, limit: int
    ) -> list[Decision]:
        d = t.risk_decisions.c
        query = select(t.risk_decisions).order_by(d.at.desc(), d.id).limit(limit)
        if client_id is not None:
            query = query.where(d.client_id == client_id)
        if since is not None:
            query = query.where(d.at >= since)
        return [_decision(r) for r in self._c.execute(query)]


def _row(d: Decision) -> dict[str, Any]:
    return {
        "id": d.id,
        "client_id": d.client_id,
        "cash_out_id": d.cash_out_id,
        "at": d.at,
        "amount": d.amount,
        "payee": d.payee,
        "code": d.code,
        "checks": json.dumps([c.as_record() for c in d.checks], separators=(",", ":")),
    }


def _decision(r: Row[Any]) -> Decision:
    checks = tuple(Check(c["rule"], c["passed"], c["inputs"]) for c in json.loads(r.checks))
    return Decision(r.id, r.client_id, r.cash_out_id, r.at, r.amount, r.payee, r.code, checks)
