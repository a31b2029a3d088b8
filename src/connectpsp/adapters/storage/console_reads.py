"""The console's reads across clients (``domain.cashout_search``): the cash-out search,
a cash-out's timeline (with the fraud checks' decision that accepted it), and one
webhook delivery of any client.

The search is keyset-paged, newest first, by (requested_at, id), and every form of it
is served by an index (migration 0023):

- internalCode, endToEndId: their UNIQUE indexes (one row at most);
- externalReference: ``uq_cash_outs_client_ref`` (external_reference, client_id);
- payee document: ``ix_cash_outs_payee_requested`` (payee_document, requested_at, id);
- status: ``ix_cash_outs_status_requested`` (status, requested_at, id);
- a date range alone, or nothing: ``ix_cash_outs_requested`` (requested_at, id).

The other fields given narrow the rows that index finds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, or_, select
from sqlalchemy.orm import aliased

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.cashins import SqlReturns
from connectpsp.adapters.storage.cashouts import _cash_out
from connectpsp.adapters.storage.db import Database, one_snapshot
from connectpsp.adapters.storage.risk import SqlRisk
from connectpsp.adapters.storage.webhook_deliveries import delivery_views
from connectpsp.domain.cashout import CashOut
from connectpsp.domain.cashout_search import CashOutQuery, CashOutTimeline, LedgerLine, RailRecord
from connectpsp.service.ports import ClientDelivery

__all__ = ["SqlConsoleReads", "last_seen", "newest_first", "older_than", "search_statement"]

_co = t.cash_outs.c


class SqlConsoleReads:
    def __init__(self, db: Database) -> None:
        self._db = db

    def search(self, query: CashOutQuery, after: str | None, limit: int) -> list[CashOut]:
        """At most ``limit`` cash-outs of any client, newest first; ``after`` is the id
        of the last one already seen."""
        with self._db.transaction(write=False) as tx:
            seen = last_seen(tx.conn, _co.requested_at, _co.id, after)
            if after is not None and seen is None:
                return []  # gone: nothing is after it
            rows = tx.conn.execute(search_statement(query, seen, limit))
            return [_cash_out(row) for row in rows]

    def timeline(self, cash_out_id: str) -> CashOutTimeline | None:
        with self._db.transaction(write=False) as tx:
            conn = tx.conn
            one_snapshot(conn)  # its status, ledger lines and deliveries as of one moment
            row = conn.execute(select(t.cash_outs).where(_co.id == cash_out_id)).first()
            if row is None:
                return None
            cash_out = _cash_out(row)
            name = conn.execute(
                select(t.clients.c.name).where(t.clients.c.id == cash_out.client_id)
            ).scalar()
            returns = SqlReturns(conn).of_cash_outs([cash_out.id])[cash_out.id]
            subjects = [("cash_out", cash_out.id)] + [
                ("cash_out_return", r.return_id) for r in returns
            ]
            return CashOutTimeline(
                cash_out=cash_out,
                client_name=str(name or cash_out.client_id),
                transfers=_transfers(conn, cash_out.id),
                rail=_rail(conn, [cash_out.end_to_end_id] if cash_out.end_to_end_id else []),
                deliveries=[d.delivery for d in _deliveries(conn, subjects=subjects)],
                returns=returns,
                decision=SqlRisk(conn).decision_of(
                    cash_out.client_id, cash_out.requested_at, cash_out.id
                ),
            )

    def delivery(self, delivery_id: str) -> ClientDelivery | None:
        with self._db.transaction(write=False) as tx:
            found = _deliveries(tx.conn, delivery_id=delivery_id)
        return found[0] if found else None


def search_statement(
    q: CashOutQuery, after: tuple[datetime, str] | None, limit: int
) -> Select[Any]:
    """The search's query: each field given must match; newest first, after
    ``after`` (the last seen's requested_at and id)."""
    return newest_first(
        select(t.cash_outs),
        [
            (_co.internal_code, q.internal_code),
            (_co.external_reference, q.external_reference),
            (_co.end_to_end_id, q.end_to_end_id),
            (_co.payee_document, q.payee_document),
            (_co.status, q.status.value if q.status else None),
        ],
        at=_co.requested_at,
        key=_co.id,
        start=q.start,
        end=q.end,
        after=after,
        limit=limit,
    )


def newest_first(
    query: Select[Any],
    exact: list[tuple[ColumnElement[Any], str | None]],
    *,
    at: ColumnElement[Any],
    key: ColumnElement[Any],
    start: datetime | None = None,
    end: datetime | None = None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Select[Any]:
    """``query``'s rows whose columns match each value given in ``exact``, with ``at``
    from ``start`` (inclusive) to ``end`` (exclusive): ``limit`` of them, newest first
    by (``at``, ``key``), after ``after`` (the last seen's)."""
    for column, value in exact:
        if value is not None:
            query = query.where(column == value)
    if start is not None:
        query = query.where(at >= start)
    if end is not None:
        query = query.where(at < end)
    if after is not None:
        query = query.where(older_than(at, key, after))
    return query.order_by(at.desc(), key.desc()).limit(limit)


def last_seen(
    conn: Connection, at: ColumnElement[Any], key: ColumnElement[Any], after: str | None
) -> tuple[datetime, str] | None:
    """The time and id of the last row a page showed (``after``, its id), to page on
    from; None when none was shown, or it is gone."""
    if after is None:
        return None
    found = conn.execute(select(at).where(key == after)).scalar()
    return None if found is None else (found, after)


def older_than(at: ColumnElement[Any], key: ColumnElement[Any], seen: tuple[datetime, str]) -> Any:
    """Keyset paging, newest first: the rows after (older than) the last one seen."""
    seen_at, seen_key = seen
    return or_(at < seen_at, and_(at == seen_at, key < seen_key))


def _transfers(conn: Connection, cash_out_id: str) -> list[LedgerLine]:
    tr = t.transfers.c
    debit, credit = aliased(t.accounts), aliased(t.accounts)
    rows = conn.execute(
        select(t.transfers, debit.c.code.label("debit"), credit.c.code.label("credit"))
        .join(debit, debit.c.id == tr.debit_account_id)
        .join(credit, credit.c.id == tr.credit_account_id)
        .where(tr.ref == cash_out_id)  # ix_transfers_ref
        .order_by(tr.created_at, tr.id)
    )
    return [
        LedgerLine(r.id, r.code, r.kind, r.amount, r.debit, r.credit, r.created_at) for r in rows
    ]


def _rail(conn: Connection, end_to_end_ids: list[str]) -> list[RailRecord]:
    """The simulated SPI's records of these payments or returns (by their ids)."""
    if not end_to_end_ids:
        return []
    p = t.sandbox_spi_payments.c
    rows = conn.execute(
        select(t.sandbox_spi_payments)
        .where(p.end_to_end_id.in_(end_to_end_ids))
        .order_by(p.submitted_at, p.end_to_end_id)
    )
    return [
        RailRecord(
            r.end_to_end_id,
            r.amount,
            r.creditor_ispb,
            r.outcome,
            r.reason_code,
            r.submit_count,
            r.submitted_at,
            r.settle_at,
        )
        for r in rows
    ]


def _deliveries(
    conn: Connection,
    *,
    subjects: list[tuple[str, str]] | None = None,
    delivery_id: str | None = None,
) -> list[ClientDelivery]:
    d, m = t.webhook_deliveries.c, t.webhook_messages.c
    query = select(t.webhook_deliveries, m.event_type).join(
        t.webhook_messages, m.id == d.message_id
    )
    if subjects is not None:  # ix_webhook_messages_subject, then ix_webhook_deliveries_message
        query = query.where(
            or_(*(and_(m.subject_kind == kind, m.subject_id == id_) for kind, id_ in subjects))
        )
    if delivery_id is not None:
        query = query.where(d.id == delivery_id)
    return delivery_views(conn, conn.execute(query.order_by(d.created_at, d.id)).all())
