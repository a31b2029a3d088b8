"""The simulated SPI's returns (pacs.004) that we send: a client's refund of a Pix it
received goes back to whoever paid it.

A return is recorded with the network's payments (its ``returnId`` as the id), decided
when first sent and due ``latency`` later, as a payment is:
- to a payer at our own ISPB (a Pix one of our clients paid us), SPI brings it back to
  us at once (``Inbound.returned``), and our answer decides it;
- to a payer whose document is one of ``MAGIC_REFUND_PAYERS``, it is rejected with that
  reason (the payer's account closed or blocked since), or its first answer is lost;
- otherwise it settles.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import update

from connectpsp.adapters.storage import schema as st
from connectpsp.adapters.storage.db import Database, upsert
from connectpsp.domain.clock import Clock
from connectpsp.domain.spi import ReasonCode
from connectpsp.service.rail import (
    Inbound,
    IncomingReturn,
    RailState,
    RailStatus,
    RailUnavailable,
    ReturnOrder,
)

__all__ = ["LOST_REFUND_ANSWER_PAYER", "MAGIC_REFUND_PAYERS", "SpiReturns"]

# Payers (CPF) whose account can no longer take a Pix back: a refund to them fails.
MAGIC_REFUND_PAYERS: dict[str, ReasonCode] = {
    "07000000112": ReasonCode.AC07,  # the account closed since it paid
    "07000000201": ReasonCode.AC06,  # the account is blocked
}
# A refund to this payer settles, but SPI's first answer is lost: the worker asks again.
LOST_REFUND_ANSWER_PAYER = "07000000384"


class SpiReturns:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        latency: timedelta,
        home: str | None,
        status: Callable[[str], RailStatus],
    ) -> None:
        self._db = db
        # The network's own: a return is stored with its payments and read as one.
        self._status = status
        self._clock = clock
        self._latency = latency
        self._home = home
        self.inbound: Inbound | None = None

    def send(self, order: ReturnOrder) -> RailStatus:
        """Take ``order`` once per idempotency key; a repeat answers the first's status."""
        now = self._clock.now()
        outcome, reason, settle_at = self._decide(order)
        p = st.sandbox_spi_payments.c
        with self._db.transaction(write=True) as tx:
            created = tx.conn.execute(
                upsert(tx.conn, st.sandbox_spi_payments)
                .values(
                    idempotency_key=order.idempotency_key,
                    end_to_end_id=order.return_id,
                    amount=order.amount,
                    payer_ispb=order.returner_ispb,
                    creditor_ispb=order.payer.ispb,
                    creditor_branch=order.payer.branch or "",
                    creditor_account=order.payer.account or "",
                    creditor_document=order.payer.document,
                    outcome=outcome.value,
                    reason_code=reason,
                    submit_count=1,
                    submitted_at=now,
                    settle_at=settle_at,
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(p.idempotency_key)
            ).first()
            if created is None:
                tx.conn.execute(
                    update(st.sandbox_spi_payments)
                    .where(p.idempotency_key == order.idempotency_key)
                    .values(submit_count=p.submit_count + 1)
                )
            tx.commit()
        if created is not None and order.payer.document == LOST_REFUND_ANSWER_PAYER:
            raise RailUnavailable("SPI took the return, but its answer was lost")
        return self._status(order.idempotency_key)

    def _decide(self, order: ReturnOrder) -> tuple[RailState, str | None, datetime]:
        now = self._clock.now()
        if self._home is not None and order.payer.ispb == self._home:
            return self._on_us(order)
        magic = MAGIC_REFUND_PAYERS.get(order.payer.document)
        if magic is not None:
            return RailState.REJECTED, magic.value, now + self._latency
        return RailState.SETTLED, None, now + self._latency

    def _on_us(self, order: ReturnOrder) -> tuple[RailState, str | None, datetime]:
        """A payer at our own ISPB: SPI brings the return straight back to us, and our
        answer decides it. A repeat of a return taken already finds the first one."""
        now = self._clock.now()
        if self._status(order.idempotency_key).state is not RailState.NOT_FOUND:
            return RailState.SETTLED, None, now  # ignored: the stored row stands
        if self.inbound is None:
            return RailState.REJECTED, ReasonCode.AC03.value, now
        receipt = self.inbound.returned(
            IncomingReturn(
                return_id=order.return_id,
                end_to_end_id=order.end_to_end_id,
                amount=order.amount,
                reason=order.reason,
                returned_at=now,
            )
        )
        if receipt.accepted:
            return RailState.SETTLED, None, now
        return RailState.REJECTED, receipt.reason, now
