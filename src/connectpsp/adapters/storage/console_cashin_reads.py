"""The console's reads of received Pix across clients (``domain.cashin_search``): the
cash-in search, a cash-in's timeline, and the refunds list.

The search is keyset-paged, newest first, by (received_at, end_to_end_id), and every
form of it is served by an index (migration 0025 added those named so):

- endToEndId: the primary key (one row at most);
- internalCode, externalReference: the charge's UNIQUE indexes, then its payments by
  ``ix_cash_ins_charge`` (the join with charges becomes an inner one);
- txid: ``ix_cash_ins_txid`` (a Pix to a key may carry a txid no charge of ours has);
- payer document: ``ix_cash_ins_payer_received`` (payer_document, received_at, id);
- status: the few rows of the table that marks it, then their cash-ins by primary key:
  BLOCKED ``ix_balance_blocks_released`` (released_at NULL), REFUNDED
  ``ix_cash_in_refunds_status``, MED the unique endToEndId of ``med_infractions``;
- a date range alone, or nothing: ``ix_cash_ins_received`` (received_at, id).

The refunds list reads ``ix_cash_in_refunds_requested`` (requested_at, id), or
``ix_cash_in_refunds_status`` for one status, newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, Table, func, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.cashins import _block, _cash_in
from connectpsp.adapters.storage.console_reads import (
    _deliveries,
    _rail,
    _transfers,
    last_seen,
    newest_first,
)
from connectpsp.adapters.storage.db import Database, one_snapshot
from connectpsp.adapters.storage.infractions import SqlInfractions
from connectpsp.adapters.storage.refunds import SqlRefunds, _refund
from connectpsp.domain.cashin_search import CashInQuery, CashInRow, CashInState, CashInTimeline
from connectpsp.domain.infractions import InfractionStatus
from connectpsp.domain.refunds import Refund, RefundStatus

__all__ = ["SqlCashInReads", "refunds_statement", "search_statement"]

_ci, _ch = t.cash_ins.c, t.charges.c
_b, _r, _i = t.balance_blocks.c, t.cash_in_refunds.c, t.med_infractions.c
_HELD = [RefundStatus.PROCESSING.value, RefundStatus.COMPLETED.value]  # not FAILED
_MARKED = {
    CashInState.BLOCKED: select(_b.end_to_end_id).where(_b.released_at.is_(None)),
    CashInState.REFUNDED: select(_r.end_to_end_id).where(_r.status.in_(_HELD)),
    CashInState.MED: select(_i.end_to_end_id),
}


class SqlCashInReads:
    def __init__(self, db: Database) -> None:
        self._db = db

    def search(self, query: CashInQuery, after: str | None, limit: int) -> list[CashInRow]:
        """At most ``limit`` cash-ins of any client, newest first; ``after`` is the
        endToEndId of the last one already seen."""
        with self._db.transaction(write=False) as tx:
            one_snapshot(tx.conn)  # a row's refunds, blocks and MED as of one moment
            seen = last_seen(tx.conn, _ci.received_at, _ci.end_to_end_id, after)
            if after is not None and seen is None:
                return []  # gone: nothing is after it
            return _marked(tx.conn, tx.conn.execute(search_statement(query, seen, limit)).all())

    def timeline(self, end_to_end_id: str) -> CashInTimeline | None:
        with self._db.transaction(write=False) as tx:
            conn = tx.conn
            one_snapshot(conn)
            found = conn.execute(
                search_statement(CashInQuery(end_to_end_id=end_to_end_id), None, 1)
            ).all()
            if not found:
                return None
            (row,) = _marked(conn, found)
            cash_in = row.cash_in
            name = conn.execute(
                select(t.clients.c.name).where(t.clients.c.id == cash_in.client_id)
            ).scalar()
            paid_by = conn.execute(
                select(t.cash_outs.c.id).where(t.cash_outs.c.end_to_end_id == end_to_end_id)
            ).scalar()
            refunds = SqlRefunds(conn).of_payments([end_to_end_id])[end_to_end_id]
            infraction = SqlInfractions(conn).of_payment(end_to_end_id)
            blocks = conn.execute(
                select(t.balance_blocks)
                .where(_b.end_to_end_id == end_to_end_id)  # ix_balance_blocks_payment
                .order_by(_b.created_at, _b.id)
            )
            subjects = [("cash_in", end_to_end_id)] + [("refund", r.id) for r in refunds]
            if infraction is not None:
                subjects.append(("infraction", infraction.id))
            return CashInTimeline(
                row=row,
                client_name=str(name or cash_in.client_id),
                paid_by=paid_by,
                transfers=_transfers(conn, end_to_end_id),
                rail=_rail(conn, [r.return_id for r in refunds]),
                deliveries=[d.delivery for d in _deliveries(conn, subjects=subjects)],
                refunds=refunds,
                blocks=[_block(b) for b in blocks],
                infraction=infraction,
            )

    def refunds(self, status: RefundStatus | None, after: str | None, limit: int) -> list[Refund]:
        """At most ``limit`` refunds of any client, newest first; ``after`` is the id of
        the last one already seen."""
        with self._db.transaction(write=False) as tx:
            seen = last_seen(tx.conn, _r.requested_at, _r.id, after)
            if after is not None and seen is None:
                return []
            rows = tx.conn.execute(refunds_statement(status, seen, limit))
            return [_refund(r) for r in rows]


def search_statement(q: CashInQuery, after: tuple[datetime, str] | None, limit: int) -> Select[Any]:
    """The search's query: each field given must match; newest first, after ``after``
    (the last seen's received_at and endToEndId)."""
    query = select(t.cash_ins, _ch.internal_code, _ch.external_reference).outerjoin(
        t.charges, _ch.id == _ci.charge_id
    )
    if q.state is not None:
        query = query.where(_ci.end_to_end_id.in_(_MARKED[q.state]))
    return newest_first(
        query,
        [
            (_ci.end_to_end_id, q.end_to_end_id),
            (_ch.internal_code, q.internal_code),
            (_ch.external_reference, q.external_reference),
            (_ci.txid, q.txid),
            (_ci.payer_document, q.payer_document),
        ],
        at=_ci.received_at,
        key=_ci.end_to_end_id,
        start=q.start,
        end=q.end,
        after=after,
        limit=limit,
    )


def refunds_statement(
    status: RefundStatus | None, after: tuple[datetime, str] | None, limit: int
) -> Select[Any]:
    """Refunds of every client, newest first, with their payer (the payment's): the page
    is read from the refunds' index first, then joined."""
    page = newest_first(
        select(t.cash_in_refunds),
        [(_r.status, status.value if status else None)],
        at=_r.requested_at,
        key=_r.id,
        after=after,
        limit=limit,
    ).subquery()
    return (
        select(page, _ci.payer_name, _ci.payer_document, _ci.payer_ispb)
        .join_from(page, t.cash_ins, _ci.end_to_end_id == page.c.end_to_end_id)
        .order_by(page.c.requested_at.desc(), page.c.id.desc())
    )


def _marked(conn: Connection, rows: Sequence[Row[Any]]) -> list[CashInRow]:
    """The cash-ins of ``rows`` with what happened to them since: what is refunded and
    blocked of each, and its MED report's status (by their endToEndId indexes)."""
    ids = [r.end_to_end_id for r in rows]
    refunded: dict[str, int] = {}
    blocked: dict[str, int] = {}
    med: dict[str, str] = {}
    if ids:
        refunded = _sums(conn, t.cash_in_refunds, ids, _r.status.in_(_HELD))
        blocked = _sums(conn, t.balance_blocks, ids, _b.released_at.is_(None))
        med = dict(
            conn.execute(select(_i.end_to_end_id, _i.status).where(_i.end_to_end_id.in_(ids))).all()
        )
    return [
        CashInRow(
            cash_in=_cash_in(r),
            internal_code=r.internal_code,
            external_reference=r.external_reference,
            refunded=int(refunded.get(r.end_to_end_id, 0)),
            blocked=int(blocked.get(r.end_to_end_id, 0)),
            med=InfractionStatus(med[r.end_to_end_id]) if r.end_to_end_id in med else None,
        )
        for r in rows
    ]


def _sums(conn: Connection, table: Table, ids: list[str], *where: Any) -> dict[str, int]:
    """The amounts of ``table``'s rows of these payments, summed by payment (by its
    endToEndId index), of the rows that match ``where``."""
    c = table.c
    return dict(
        conn.execute(
            select(c.end_to_end_id, func.sum(c.amount))
            .where(c.end_to_end_id.in_(ids), *where)
            .group_by(c.end_to_end_id)
        ).all()
    )
