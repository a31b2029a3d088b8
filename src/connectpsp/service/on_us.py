"""On-us payments: a cash-out to a key or code of another client of this PSP settles as
a book transfer inside our ledger, with no SPI.

``OnUsRail`` wraps the rail settlement uses. A payment whose creditor DICT resolved to
our own ISPB is handed to our own inbound side (``CashInService.receive``), exactly as
SPI would bring it from another PSP: the receiver is credited, with its cash-in, fee and
events, under the payer's endToEndId, so both sides see one. The payer's reservation is
then posted by settlement as for any settled payment. Every other payment goes to the
wrapped rail.

The two steps commit apart, as with any rail: if the process dies between them, the
payment is asked about again, sent again, and the receiver, which credits an endToEndId
once, answers as it did the first time. Nothing is credited twice or lost.
"""

from __future__ import annotations

from connectpsp.domain.cashout import Creditor
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import StorageUnavailable
from connectpsp.domain.pix import PixKeyType
from connectpsp.service.rail import (
    Inbound,
    IncomingPayment,
    Payer,
    PaymentOrder,
    Rail,
    RailState,
    RailStatus,
    RailUnavailable,
)

__all__ = ["OnUsRail"]


class OnUsRail:
    def __init__(self, rail: Rail, inbound: Inbound, *, ispb: str, clock: Clock) -> None:
        self._rail = rail
        self._inbound = inbound
        self._ispb = ispb
        self._clock = clock

    def lookup(self, key_type: PixKeyType, key: str) -> Creditor | None:
        return self._rail.lookup(key_type, key)

    def submit(self, order: PaymentOrder) -> RailStatus:
        [answer] = self.submit_many([order])
        if answer.state is RailState.UNKNOWN:
            raise RailUnavailable("the payment's answer is unknown")
        return answer

    def submit_many(self, orders: list[PaymentOrder]) -> list[RailStatus]:
        answers = [RailStatus(RailState.UNKNOWN)] * len(orders)
        outside = [(i, o) for i, o in enumerate(orders) if o.creditor.ispb != self._ispb]
        if outside:
            try:
                got = self._rail.submit_many([o for _, o in outside])
            except RailUnavailable:
                if len(outside) == len(orders):
                    raise
                got = [RailStatus(RailState.UNKNOWN)] * len(outside)
            for (i, _), answer in zip(outside, got, strict=True):
                answers[i] = answer
        for i, order in enumerate(orders):
            if order.creditor.ispb == self._ispb:
                answers[i] = self._book(order)
        return answers

    def status(self, idempotency_key: str) -> RailStatus:
        # An on-us payment is unknown to SPI: NOT_FOUND, so settlement sends it again,
        # and the receiver answers as it did.
        return self._rail.status(idempotency_key)

    def _book(self, order: PaymentOrder) -> RailStatus:
        now = self._clock.now()
        payment = IncomingPayment(
            end_to_end_id=order.end_to_end_id,
            amount=order.amount,
            payer=order.debtor or Payer("", "", order.payer_ispb),
            key=order.key,
            txid=order.txid,
            paid_at=now,
        )
        try:
            receipt = self._inbound.receive(payment)
        except StorageUnavailable:
            return RailStatus(RailState.UNKNOWN)
        if receipt.accepted:
            return RailStatus(RailState.SETTLED, order.end_to_end_id, settled_at=now)
        return RailStatus(RailState.REJECTED, order.end_to_end_id, reason=receipt.reason)
