"""SQL storage for risk decisions and the payees each client has paid."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, Row, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import PSYCOPG_CACHED_PARAMS, run_sql
from connectpsp.adapters.storage.times import times
from connectpsp.domain.risk import Check, Decision, Tally

__all__ = ["SqlRisk"]


class SqlRisk:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def tallies(
        self, client_ids: list[str], points: list[tuple[str, datetime]]
    ) -> tuple[dict[str, Tally], dict[tuple[str, datetime], Tally]]:
        # One statement for the batch (on PostgreSQL, one round trip): each point is one
        # seek into ix_risk_decisions_tally (none found: nothing decided before it), each
        # client one into risk_totals.
        moment = times(self._c).bind
        parts = [_TALLY_BEFORE.replace("{i}", str(i)) for i in range(len(points))]
        params: list[Any] = [v for client_id, at in points for v in (client_id, moment(at))]
        if client_ids:
            parts.append(
                "SELECT -1, client_id, decided, accepted FROM risk_totals WHERE client_id IN ({in})"
            )
            params.append(client_ids)
        if not parts:
            return {}, {}
        stored: dict[str, Tally] = {}
        before = dict.fromkeys(points, Tally())
        for i, client_id, decided, accepted in run_sql(
            self._c, " UNION ALL ".join(parts), tuple(params)
        ):
            if i < 0:
                stored[client_id] = Tally(decided, accepted)
            else:
                before[points[i]] = Tally(decided, accepted)
        return stored, before

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
        # One row per client and moment (a batch decides at one moment): its decisions as
        # one JSON document, its tally the last one's. Plain tuples in one precompiled
        # ``executemany``.
        moment = times(self._c).binder()
        groups: dict[tuple[str, datetime], list[Decision]] = {}
        for d in decisions:
            groups.setdefault((d.client_id, d.at), []).append(d)
        rows = []
        for (client_id, at), group in groups.items():
            last = group[-1]
            rows.append(
                (
                    last.id,
                    client_id,
                    moment(at),
                    _document(group),
                    last.tally.decided,
                    last.tally.accepted,
                )
            )
        last_tally = {d.client_id: d.tally for d in decisions}
        totals = [(c, tally.decided, tally.accepted) for c, tally in sorted(last_tally.items())]
        first: dict[tuple[str, str], Any] = {}
        for d in decisions:
            if d.accepted:
                first.setdefault((d.client_id, d.payee), d.at)
        payees = [
            (client_id, payee, moment(at)) for (client_id, payee), at in sorted(first.items())
        ]
        if self._c.dialect.name == "postgresql":
            # The three inserts in one statement: on PostgreSQL each is a round trip. A
            # batch of over fifty parameters goes as twelve arrays, one per column, in a
            # text the same for any batch: psycopg parses every statement of over fifty
            # parameters again, and the server plans each text it has not seen. A smaller
            # one is cheaper as parameters of its own (docs/architecture.md, "Storage").
            if 6 * len(rows) + 3 * (len(totals) + len(payees)) <= PSYCOPG_CACHED_PARAMS:
                flat = (*_flat(rows), *_flat(totals), *_flat(payees))
                run_sql(self._c, _record_sql(len(rows), len(totals), len(payees)), flat)
                return
            params = (*_columns(rows, 6), *_columns(totals, 3), *_columns(payees, 3))
            run_sql(self._c, _RECORD_ARRAYS, params, binary=True)
            return
        run_sql(self._c, _INSERT_DECISIONS, rows)
        run_sql(self._c, _UPSERT_TOTALS, totals)
        if payees:
            run_sql(self._c, _INSERT_PAYEES, payees)

    def decisions(
        self, *, client_id: str | None, since: datetime | None, limit: int
    ) -> list[Decision]:
        """The newest ``limit`` decisions, newest first: those of one moment by client,
        each client's latest first."""
        d = t.risk_decisions.c
        query = select(t.risk_decisions).order_by(d.at.desc(), d.client_id, d.decided_total.desc())
        if client_id is not None:
            query = query.where(d.client_id == client_id)
        if since is not None:
            query = query.where(d.at >= since)
        # A row holds one or more decisions: ``limit`` rows hold enough.
        rows = self._c.execute(query.limit(limit))
        return [one for r in rows for one in _decisions(r)][:limit]

    def decision_of(self, client_id: str, at: datetime, cash_out_id: str) -> Decision | None:
        """The decision that accepted ``cash_out_id``: made at its ``requested_at`` (one
        seek into the tally index, to the client's rows of that moment)."""
        d = t.risk_decisions.c
        rows = self._c.execute(select(t.risk_decisions).where(d.client_id == client_id, d.at == at))
        found = (one for r in rows for one in _decisions(r) if one.cash_out_id == cash_out_id)
        return next(found, None)


_ENCODE = msgspec.json.Encoder().encode
# A point's tally: the last decision before it ({i}: the point's place in the batch).
_TALLY_BEFORE = (
    "SELECT * FROM (SELECT {i} AS i, NULL AS c, decided_total, accepted_total"
    " FROM risk_decisions WHERE client_id = ? AND at < ?"
    " ORDER BY at DESC, decided_total DESC LIMIT 1) AS p{i}"
)


# A check of one of these rules is kept packed, ``[place, passed, *inputs]``: its inputs'
# values in this order, the rule by its place here (so only ever appended to). That is
# about a quarter of the bytes of ``{"rule", "passed", "inputs"}``, which a client with
# every rule of its own set wrote for each of its cash-outs (BENCHMARKS.md, "The fraud
# checks' record, packed"). Any other check (inputs of another shape, a rule added
# later) is kept whole; rows written before migration 0027 hold only whole ones.
_PACKED = (
    ("fraud_markers", ("keyMarked", "ownerMarked", "payeeMarked")),
    ("max_cash_outs_per_minute", ("limit", "inLastMinute")),
    ("max_amount_per_hour", ("limit", "inLastHour", "amount")),
    ("new_payee_limit", ("limit", "knownPayee", "amount")),
    ("night_limit", ("limit", "window", "sentTonight", "amount")),
)
_PLACES = {rule: (place, inputs) for place, (rule, inputs) in enumerate(_PACKED)}


def _packed(check: Check) -> list[Any] | Check:
    found = _PLACES.get(check.rule)
    if found is None or tuple(check.inputs) != found[1]:
        return check
    return [found[0], check.passed, *check.inputs.values()]


def _unpacked(kept: list[Any] | Check) -> Check:
    if isinstance(kept, Check):
        return kept
    rule, inputs = _PACKED[kept[0]]
    return Check(rule, kept[1], dict(zip(inputs, kept[2:], strict=True)))


class _Entry(msgspec.Struct, rename={"cash_out_id": "cashOutId"}):
    """One decision in its row's document: what is not the row's own (client, moment)."""

    id: str
    cash_out_id: str | None
    amount: int
    payee: str
    code: str | None
    # msgspec writes a whole Check's fields in their order
    checks: tuple[list[Any] | Check, ...]


def _document(decisions: list[Decision]) -> str:
    """As ``json.dumps`` of each decision's entry, compact: msgspec writes the fields in
    their order, a fifth of the time that writing them by hand took. (It leaves
    non-ASCII text unescaped, which reads back the same.)"""
    return _ENCODE(
        [
            _Entry(d.id, d.cash_out_id, d.amount, d.payee, d.code, tuple(map(_packed, d.checks)))
            for d in decisions
        ]
    ).decode()


_ENTRIES = msgspec.json.Decoder(list[_Entry])


_INSERT_DECISIONS = (
    "INSERT INTO risk_decisions (id, client_id, at, decisions, decided_total, accepted_total)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT_TOTALS = (
    "INSERT INTO risk_totals (client_id, decided, accepted) VALUES (?, ?, ?)"
    " ON CONFLICT (client_id) DO UPDATE"
    " SET decided = excluded.decided, accepted = excluded.accepted"
)
_INSERT_PAYEES = (
    "INSERT INTO client_payees (client_id, payee, first_paid_at) VALUES (?, ?, ?)"
    " ON CONFLICT (payee, client_id) DO NOTHING"
)
_RECORD_ARRAYS = (
    "WITH decided AS (INSERT INTO risk_decisions (id, client_id, at, decisions,"
    " decided_total, accepted_total)"
    " SELECT * FROM unnest(?::varchar[], ?::varchar[], ?::timestamptz[], ?::text[],"
    " ?::bigint[], ?::bigint[])),"
    " totals AS (INSERT INTO risk_totals (client_id, decided, accepted)"
    " SELECT * FROM unnest(?::varchar[], ?::bigint[], ?::bigint[])"
    " ON CONFLICT (client_id) DO UPDATE"
    " SET decided = excluded.decided, accepted = excluded.accepted)"
    " INSERT INTO client_payees (client_id, payee, first_paid_at)"
    " SELECT * FROM unnest(?::varchar[], ?::varchar[], ?::timestamptz[])"
    " ON CONFLICT (payee, client_id) DO NOTHING"
)


@functools.lru_cache(maxsize=64)
def _record_sql(decisions: int, totals: int, payees: int) -> str:
    """A small batch's record in one PostgreSQL statement: data-modifying CTEs."""
    values = " VALUES (?, ?, ?)"
    many = ", (?, ?, ?)"
    upsert = _UPSERT_TOTALS.replace(values, values + many * (totals - 1))
    decided = _INSERT_DECISIONS + ", (?, ?, ?, ?, ?, ?)" * (decisions - 1)
    if not payees:  # a statement that answers nothing, as a pipeline expects of a write
        return f"WITH decided AS ({decided}) {upsert}"
    main = _INSERT_PAYEES.replace(values, values + many * (payees - 1))
    return f"WITH decided AS ({decided}), totals AS ({upsert}) {main}"


def _flat(rows: list[tuple[Any, ...]]) -> list[Any]:
    return [v for row in rows for v in row]


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """``rows`` as one list per column (``width`` of them, empty if there are no rows)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _decisions(r: Row[Any]) -> list[Decision]:
    """A row's decisions, latest first, each with the tally it brought the client to: the
    row's, less what the decisions after it added."""
    entries = _ENTRIES.decode(r.decisions)
    decided, accepted = r.decided_total, r.accepted_total
    found = []
    for e in reversed(entries):
        tally = Tally(decided, accepted)
        checks = tuple(map(_unpacked, e.checks))
        found.append(
            Decision(
                e.id, r.client_id, e.cash_out_id, r.at, e.amount, e.payee, e.code, checks, tally
            )
        )
        decided -= 1
        accepted -= e.amount if e.code is None else 0
    return found
