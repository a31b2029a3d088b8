"""SQL storage for risk decisions and the payees each client has paid."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows, run_sql
from connectpsp.domain.risk import Check, Decision, Tally

__all__ = ["SqlRisk"]


class SqlRisk:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def tallies(self, client_ids: list[str]) -> dict[str, Tally]:
        if not client_ids:
            return {}
        rows = run_sql(
            self._c,
            "SELECT client_id, decided, accepted FROM risk_totals WHERE client_id IN ({in})",
            (client_ids,),
        )
        return {client_id: Tally(decided, accepted) for client_id, decided, accepted in rows}

    def tallies_before(
        self, points: list[tuple[str, datetime]]
    ) -> dict[tuple[str, datetime], Tally]:
        if not points:
            return {}
        # One statement for the batch; each point is two seeks into ix_risk_decisions_tally.
        dialect = self._c.dialect
        moment: Callable[[Any], Any] = t.TZ.dialect_impl(dialect).bind_processor(dialect) or _same
        last = (
            "(SELECT {column} FROM risk_decisions WHERE client_id = ? AND at < ?"
            " ORDER BY at DESC, decided_total DESC LIMIT 1)"
        )
        sql = " UNION ALL ".join(
            f"SELECT {i}, {last.format(column='decided_total')}, "
            f"{last.format(column='accepted_total')}"
            for i in range(len(points))
        )
        params = tuple(v for client_id, at in points for v in (client_id, moment(at)) * 2)
        found = {i: Tally(d or 0, a or 0) for i, d, a in run_sql(self._c, sql, params)}
        return {point: found[i] for i, point in enumerate(points)}

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
        last = {d.client_id: d.tally for d in decisions}
        run_sql(
            self._c,
            "INSERT INTO risk_totals (client_id, decided, accepted) VALUES (?, ?, ?)"
            " ON CONFLICT (client_id) DO UPDATE"
            " SET decided = excluded.decided, accepted = excluded.accepted",
            [(c, tally.decided, tally.accepted) for c, tally in sorted(last.items())],
        )
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


def _same(value: Any) -> Any:
    return value


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
        "decided_total": d.tally.decided,
        "accepted_total": d.tally.accepted,
    }


def _decision(r: Row[Any]) -> Decision:
    checks = tuple(Check(c["rule"], c["passed"], c["inputs"]) for c in json.loads(r.checks))
    return Decision(
        r.id,
        r.client_id,
        r.cash_out_id,
        r.at,
        r.amount,
        r.payee,
        r.code,
        checks,
        Tally(r.decided_total, r.accepted_total),
    )
