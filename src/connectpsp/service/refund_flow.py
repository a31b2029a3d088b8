"""Accepting a refund, as the acceptance engine decides it: an ``X-Idempotency-Key``
retried gets the first answer, and each request is decided against what the ones before
it in its batch left (the balance, what is left of each payment).

For a batch, the flow locks its clients' balances first (the order every writer locks
them in), then reads the charges, their payments and the refunds so far: a concurrent
writer's refund of the same payment is either all in or not yet begun. An accepted
refund reserves its amount and queues its job for the worker, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectpsp.domain.cashin import CashIn, CashInPayer, Charge
from connectpsp.domain.errors import (
    ConnectPSPError,
    FieldError,
    InsufficientBalance,
    LedgerViolation,
    NotFound,
    ValidationFailed,
)
from connectpsp.domain.ids import new_id
from connectpsp.domain.ledger import Book, client_account_code
from connectpsp.domain.refunds import (
    Refund,
    RefundExceedsPayment,
    RefundReason,
    RefundRequest,
    RefundStatus,
    RefundWindowClosed,
    UnknownPayment,
    new_refund,
)
from connectpsp.service.acceptance import Submission
from connectpsp.service.ports import UnitOfWork

__all__ = ["REFUND_TOPIC", "RefundFlow"]

REFUND_TOPIC = "send_refund"


@dataclass
class _Batch:
    book: Book
    charges: dict[tuple[str, str], Charge | None]  # by (client id, internalCode)
    payments: dict[str, list[CashIn]]  # by charge id
    received: dict[str, tuple[CashIn, Charge | None]]  # named by endToEndId alone
    refunds: dict[str, list[Refund]]  # by endToEndId, this batch's included
    accepted: list[Refund] = field(default_factory=list)


class RefundFlow:
    name = "refund"
    refusals: tuple[type[ConnectPSPError], ...] = (
        InsufficientBalance,
        RefundExceedsPayment,
        RefundWindowClosed,
        UnknownPayment,
    )
    secret = False

    def __init__(self, *, ispb: str, on_accepted: Callable[[], None]) -> None:
        self._ispb = ispb
        self._on_accepted = on_accepted  # the worker may send them now

    def load(
        self, uow: UnitOfWork, batch: Sequence[Submission[RefundRequest]], now: datetime
    ) -> _Batch:
        accounts = sorted({client_account_code(s.client.id) for s in batch})
        balances = uow.ledger.lock_balances(accounts)
        missing = set(accounts) - set(balances)
        if missing:
            raise LedgerViolation(f"No balance account {sorted(missing)[0]!r}.")
        wanted = sorted({(s.client.id, s.command.internal_code) for s in batch})
        charges = {(c, code): uow.charges.get(c, code) for c, code in wanted if code}
        payments = uow.cash_ins.of_charges([c.id for c in charges.values() if c is not None])
        received = {}
        for s in batch:
            e2e = s.command.end_to_end_id
            if s.command.internal_code is None and e2e and e2e not in received:
                payment = uow.cash_ins.get(e2e)
                if payment is not None:
                    charge = uow.charges.by_id(payment.charge_id) if payment.charge_id else None
                    received[e2e] = (payment, charge)
        refunds = uow.refunds.of_payments(
            [p.end_to_end_id for paid in payments.values() for p in paid] + list(received)
        )
        return _Batch(Book(balances), charges, payments, received, refunds)

    def decide(self, state: _Batch, submission: Submission[RefundRequest], now: datetime) -> Refund:
        client, request = submission.client, submission.command
        if request.internal_code is None:
            payment, charge = _received(state, client.id, request.end_to_end_id)
        else:
            charge = state.charges.get((client.id, request.internal_code))
            if charge is None:
                raise NotFound(f"No charge {request.internal_code}.")
            payment = _payment(state.payments[charge.id], request)
        refund = new_refund(
            new_id(),
            ispb=self._ispb,
            payment=payment,
            refunds=state.refunds[payment.end_to_end_id],
            charge=charge,
            amount=request.amount,
            reason=request.reason,
            description=request.description,
            now=now,
        )
        try:
            state.book.apply(refund.reservation())
        except InsufficientBalance:
            raise InsufficientBalance("The available balance does not cover the refund.") from None
        state.refunds[payment.end_to_end_id].append(refund)
        state.accepted.append(refund)
        return refund

    def write(self, uow: UnitOfWork, state: _Batch, now: datetime) -> None:
        uow.refunds.add(state.accepted)
        uow.ledger.record([r.reservation() for r in state.accepted])
        uow.outbox.enqueue(
            REFUND_TOPIC, [(r.id, {"refundId": r.id}) for r in state.accepted], available_at=now
        )

    def record(self, result: Refund) -> dict[str, Any]:
        return _record(result)

    def restore(self, record: dict[str, Any]) -> Refund:
        return _restore(record)

    def committed(self, results: list[Refund]) -> None:
        self._on_accepted()


def _received(
    state: _Batch, client_id: str, end_to_end_id: str | None
) -> tuple[CashIn, Charge | None]:
    """The client's received Pix a refund names by its endToEndId alone (one paid to a
    key with no charge, or any other), with the charge it paid, if any."""
    found = state.received.get(end_to_end_id or "")
    if found is None or found[0].client_id != client_id:
        raise UnknownPayment(
            "You received no Pix with this endToEndId.", {"endToEndId": end_to_end_id}
        )
    return found


def _payment(payments: list[CashIn], request: RefundRequest) -> CashIn:
    """The payment a refund names, or the charge's only one when it names none."""
    if request.end_to_end_id is not None:
        for payment in payments:
            if payment.end_to_end_id == request.end_to_end_id:
                return payment
        raise UnknownPayment(
            "This charge has no payment with this endToEndId.",
            {"endToEndId": request.end_to_end_id},
        )
    if not payments:
        raise UnknownPayment("This charge has not been paid.")
    if len(payments) > 1:
        raise ValidationFailed(
            [FieldError("endToEndId", f"is required: the charge has {len(payments)} payments")]
        )
    return payments[0]


def _record(r: Refund) -> dict[str, Any]:
    """The refund as accepted, to answer a retried request with the same bytes."""
    return {
        "id": r.id,
        "returnId": r.return_id,
        "clientId": r.client_id,
        "chargeId": r.charge_id,
        "internalCode": r.internal_code,
        "endToEndId": r.end_to_end_id,
        "amount": r.amount,
        "reason": r.reason.value,
        "description": r.description,
        "payer": [r.payer.name, r.payer.document, r.payer.ispb],
        "requestedAt": r.requested_at.isoformat(),
        "webhookUrl": r.webhook_url,
    }


def _restore(r: dict[str, Any]) -> Refund:
    return Refund(
        id=r["id"],
        return_id=r["returnId"],
        client_id=r["clientId"],
        charge_id=r["chargeId"],
        internal_code=r["internalCode"],
        end_to_end_id=r["endToEndId"],
        amount=r["amount"],
        reason=RefundReason(r["reason"]),
        description=r["description"],
        payer=CashInPayer(*r["payer"]),
        status=RefundStatus.PROCESSING,  # as answered when accepted
        requested_at=datetime.fromisoformat(r["requestedAt"]),
        webhook_url=r["webhookUrl"],
    )
