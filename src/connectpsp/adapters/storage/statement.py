"""SQL reads for the lists and the statement, in keyset pages (service/statement.py).

The statement's lines are the transfers the ledger numbered (``debit_seq``,
``credit_seq``): an index range of (account, time, number) on each side, merged. A
cash-out sorts by its reservation's line; a charge by its number (``charges.seq``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, literal, or_, select, union_all

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.cashins import SqlCashIns, SqlReturns, _charge
from connectpsp.adapters.storage.cashouts import _cash_out
from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.ledger import AccountCache
from connectpsp.domain.errors import LedgerViolation
from connectpsp.domain.ids import derived_id
from connectpsp.domain.ledger import TransferKind, client_account_code
from connectpsp.domain.listing import (
    CashOutItem,
    ChargeItem,
    Filters,
    Movement,
    Position,
    movement_type,
)

__all__ = ["SqlListings"]

_tr = t.transfers.c

# What a transfer's code says a line is, and what it belongs to.
_SUBJECTS = {
    "cash_out": "cash_out",
    "cash_out_fee": "cash_out",
    "cash_out_return": "cash_out",
    "cash_in": "cash_in",
    "cash_in_fee": "cash_in",
    "block": "cash_in",
    "block_release": "cash_in",
    "cash_in_refund": "refund",
    "sandbox_fund": "funding",
}


class SqlListings:
    def __init__(self, db: Database) -> None:
        self._db = db
        # A client's account id, read once: every page of its lists seeks by it.
        self._accounts = AccountCache()

    def _account_id(self, conn: Connection, client_id: str) -> int | None:
        try:
            account_id, _ = self._accounts.lookup(conn, client_account_code(client_id))
        except LedgerViolation:  # no such client: nothing to list (not remembered)
            return None
        return account_id

    def cash_outs(
        self, client_id: str, filters: Filters, after: Position | None, limit: int
    ) -> list[tuple[Position, CashOutItem]]:
        co = t.cash_outs.c
        with self._db.transaction(write=False) as tx:
            account = self._account_id(tx.conn, client_id)
            if account is None:
                return []
            query = (
                select(t.cash_outs, _tr.created_at.label("pos_at"), _tr.debit_seq.label("pos_seq"))
                .join_from(t.transfers, t.cash_outs, co.id == _tr.id)
                .where(
                    _tr.debit_account_id == account,
                    _tr.debit_seq.is_not(None),
                    co.client_id == client_id,
                )
            )
            query = _filtered(query, filters, co.requested_at, co.status, co.external_reference)
            if after is not None:
                query = query.where(_before(_tr.created_at, _tr.debit_seq, after))
            rows = list(
                tx.conn.execute(
                    query.order_by(_tr.created_at.desc(), _tr.debit_seq.desc()).limit(limit)
                )
            )
            cash_outs = [_cash_out(row) for row in rows]
            returns = SqlReturns(tx.conn).of_cash_outs([c.id for c in cash_outs])
        return [
            (Position(row.pos_at, row.pos_seq), CashOutItem(c, returns[c.id]))
            for row, c in zip(rows, cash_outs, strict=True)
        ]

    def charges(
        self, client_id: str, filters: Filters, after: Position | None, limit: int
    ) -> list[tuple[Position, ChargeItem]]:
        ch = t.charges.c
        query = select(t.charges).where(ch.client_id == client_id)
        query = _filtered(query, filters, ch.created_at, ch.status, ch.external_reference)
        if after is not None:
            query = query.where(ch.seq < after.seq)
        with self._db.transaction(write=False) as tx:
            rows = list(tx.conn.execute(query.order_by(ch.seq.desc()).limit(limit)))
            charges = [_charge(row) for row in rows]
            payments = SqlCashIns(tx.conn).of_charges([c.id for c in charges])
        return [
            (Position(row.created_at, row.seq), ChargeItem(c, payments[c.id]))
            for row, c in zip(rows, charges, strict=True)
        ]

    def movements(
        self, client_id: str, filters: Filters, after: Position | None, limit: int
    ) -> list[Movement]:
        with self._db.transaction(write=False) as tx:
            account = self._account_id(tx.conn, client_id)
            if account is None:
                return []
            # Both sides in one statement, so in one snapshot: read apart, under
            # PostgreSQL's READ COMMITTED, a debit committed between them was missed while
            # a later credit was seen, and the next page began past it.
            sides = []
            for debit in (True, False):
                side = "debit" if debit else "credit"
                seq, balance = _tr[f"{side}_seq"], _tr[f"{side}_after"]
                query = select(
                    _tr.id,
                    _tr.code,
                    _tr.kind,
                    _tr.amount,
                    _tr.ref,
                    _tr.pending_id,
                    _tr.created_at,
                    seq.label("seq"),
                    balance.label("balance_after"),
                    literal(debit).label("debited"),
                ).where(_tr[f"{side}_account_id"] == account, seq.is_not(None))
                query = _filtered(query, filters, _tr.created_at)
                if after is not None:
                    query = query.where(_beyond(_tr.created_at, seq, after))
                sides.append(query.order_by(_tr.created_at, seq).limit(limit).subquery())
            both = union_all(*(select(side) for side in sides)).subquery()
            rows: list[Any] = list(tx.conn.execute(select(both).order_by(both.c.seq).limit(limit)))
            subjects = _Subjects(tx.conn, rows)
        return [
            Movement(
                position=Position(r.created_at, r.seq),
                transfer_id=r.id,
                type=movement_type(r.code, r.kind),
                change=_change(r),
                balance_after=r.balance_after,
                subject_kind=_SUBJECTS.get(r.code),
                internal_code=subjects.internal_code(r),
                end_to_end_id=subjects.end_to_end_id(r),
            )
            for r in rows
        ]


def _change(row: Any) -> int:
    """What a line did to the available balance: a debit takes the amount, unless it
    voids a reservation (which gives it back); a credit adds it."""
    if row.debited and row.kind != TransferKind.VOID_PENDING:
        return -int(row.amount)
    return int(row.amount)


def _filtered(
    query: Select[Any],
    filters: Filters,
    time: ColumnElement[Any],
    status: ColumnElement[Any] | None = None,
    reference: ColumnElement[Any] | None = None,
) -> Select[Any]:
    if filters.start is not None:
        query = query.where(time >= filters.start)
    if filters.end is not None:
        query = query.where(time < filters.end)
    if status is not None and filters.status is not None:
        query = query.where(status == filters.status)
    if reference is not None and filters.external_reference is not None:
        query = query.where(reference == filters.external_reference)
    return query


def _beyond(time: Any, seq: Any, after: Position) -> ColumnElement[bool]:
    return or_(time > after.at, and_(time == after.at, seq > after.seq))


def _before(time: Any, seq: Any, after: Position) -> ColumnElement[bool]:
    return or_(time < after.at, and_(time == after.at, seq < after.seq))


class _Subjects:
    """The business records a page of lines belongs to, read in one query per kind."""

    def __init__(self, conn: Any, rows: list[Any]) -> None:
        def refs(*codes: str) -> list[str]:
            return sorted({r.ref for r in rows if r.code in codes and r.ref})

        co, ci, ch = t.cash_outs.c, t.cash_ins.c, t.charges.c
        rf, rt = t.cash_in_refunds.c, t.cash_out_returns.c
        ids = refs("cash_out", "cash_out_fee", "cash_out_return")
        self._cash_outs = {
            r.id: (r.internal_code, r.end_to_end_id)
            for r in conn.execute(
                select(co.id, co.internal_code, co.end_to_end_id).where(co.id.in_(ids))
            )
        }
        paid = refs("cash_in", "cash_in_fee", "block", "block_release", "cash_in_refund")
        self._charges = {
            r.end_to_end_id: r.internal_code
            for r in conn.execute(
                select(ci.end_to_end_id, ch.internal_code)
                .join_from(t.cash_ins, t.charges, ch.id == ci.charge_id)
                .where(ci.end_to_end_id.in_(paid))
            )
        }
        refund_ids = sorted({r.pending_id or r.id for r in rows if r.code == "cash_in_refund"})
        self._refunds = {
            r.id: r.return_id
            for r in conn.execute(select(rf.id, rf.return_id).where(rf.id.in_(refund_ids)))
        }
        returned = refs("cash_out_return")
        self._returns = {
            derived_id(r.return_id, "cash_out_return"): r.return_id
            for r in conn.execute(select(rt.return_id).where(rt.cash_out_id.in_(returned)))
        }

    def internal_code(self, row: Any) -> str | None:
        if row.code in ("cash_out", "cash_out_fee", "cash_out_return"):
            found: str | None = self._cash_outs.get(row.ref, (None, None))[0]
            return found
        return self._charges.get(row.ref)

    def end_to_end_id(self, row: Any) -> str | None:
        """The Pix that moved the money: the cash-out's, the one received, the refund's
        or the return's own (a "D..." id); None for a sandbox funding."""
        if row.code in ("cash_out", "cash_out_fee"):
            paid: str | None = self._cash_outs.get(row.ref, (None, None))[1]
            return paid
        if row.code == "cash_out_return":
            return self._returns.get(row.id)
        if row.code == "cash_in_refund":
            return self._refunds.get(row.pending_id or row.id)
        if row.code == "sandbox_fund":
            return None
        return str(row.ref) if row.ref else None
