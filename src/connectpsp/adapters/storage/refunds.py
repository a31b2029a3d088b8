"""SQL storage for refunds of received Pix (``domain.refunds``). A refund's payer is its
payment's: read with it, never stored twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, Select, select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows
from connectpsp.domain.cashin import CashInPayer
from connectpsp.domain.refunds import Refund, RefundReason, RefundStatus

__all__ = ["SqlRefunds"]

_r = t.cash_in_refunds.c
_p = t.cash_ins.c


class SqlRefunds:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, refunds: list[Refund]) -> None:
        if refunds:
            insert_rows(self._c, t.cash_in_refunds, [_row(r) for r in refunds])

    def get(self, client_id: str, refund_id: str) -> Refund | None:
        return self._one(_query().where(_r.id == refund_id, _r.client_id == client_id))

    def by_id(self, refund_id: str) -> Refund | None:
        return self._one(_query().where(_r.id == refund_id))

    def of_payments(self, end_to_end_ids: list[str]) -> dict[str, list[Refund]]:
        found: dict[str, list[Refund]] = {e: [] for e in end_to_end_ids}
        if not end_to_end_ids:
            return found
        rows = self._c.execute(
            _query().where(_r.end_to_end_id.in_(end_to_end_ids)).order_by(_r.requested_at, _r.id)
        )
        for row in rows:
            found[row.end_to_end_id].append(_refund(row))
        return found

    def finish(self, refund: Refund) -> bool:
        """Store ``refund``'s end if it is still PROCESSING; False, writing nothing, if
        another worker ended it first."""
        done = self._c.execute(
            update(t.cash_in_refunds)
            .where(_r.id == refund.id, _r.status == RefundStatus.PROCESSING.value)
            .values(
                status=refund.status.value,
                completed_at=refund.completed_at,
                failure_reason=refund.failure_reason,
            )
        )
        return done.rowcount == 1

    def _one(self, query: Select[Any]) -> Refund | None:
        row = self._c.execute(query).first()
        return _refund(row) if row else None


def _query() -> Select[Any]:
    return select(t.cash_in_refunds, _p.payer_name, _p.payer_document, _p.payer_ispb).join_from(
        t.cash_in_refunds, t.cash_ins, _p.end_to_end_id == _r.end_to_end_id
    )


def _row(r: Refund) -> dict[str, Any]:
    return {
        "id": r.id,
        "return_id": r.return_id,
        "client_id": r.client_id,
        "charge_id": r.charge_id,
        "internal_code": r.internal_code,
        "end_to_end_id": r.end_to_end_id,
        "amount": r.amount,
        "reason": r.reason.value,
        "description": r.description,
        "status": r.status.value,
        "webhook_url": r.webhook_url,
        "requested_at": r.requested_at,
        "completed_at": r.completed_at,
        "failure_reason": r.failure_reason,
    }


def _refund(r: Row[Any]) -> Refund:
    return Refund(
        id=r.id,
        return_id=r.return_id,
        client_id=r.client_id,
        charge_id=r.charge_id,
        internal_code=r.internal_code,
        end_to_end_id=r.end_to_end_id,
        amount=r.amount,
        reason=RefundReason(r.reason),
        description=r.description,
        payer=CashInPayer(r.payer_name, r.payer_document, r.payer_ispb),
        status=RefundStatus(r.status),
        requested_at=r.requested_at,
        webhook_url=r.webhook_url,
        completed_at=r.completed_at,
        failure_reason=r.failure_reason,
    )
