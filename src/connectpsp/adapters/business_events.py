"""The business log and its counters, in one place: every domain event a transaction
committed is logged at its level and counted, after the commit succeeded (a transaction
rolled back, or run again after a conflict, tells nothing).

Lines carry ids and codes only: the client id, the record's internalCode or
endToEndId, failure and reason codes, amounts in centavos; never a document, a key or a
name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from connectpsp import metrics
from connectpsp.domain.cashin import CashInReceived, ChargeExpired
from connectpsp.domain.cashout import AcceptedCashOut, CashOutCompleted, CashOutFailed
from connectpsp.domain.events import Event
from connectpsp.domain.infractions import (
    InfractionAccepted,
    InfractionRejected,
    InfractionReported,
)
from connectpsp.domain.refunds import RefundCompleted, RefundFailed
from connectpsp.domain.returns import CashOutReturned
from connectpsp.logs import get_logger
from connectpsp.service.rail import Inbound, IncomingPayment, IncomingReturn, Receipt

__all__ = ["BusinessEvents", "CountedInbound"]

log = get_logger("connectpsp.business")


def _completed(e: CashOutCompleted, count: bool) -> None:
    c = e.cash_out
    log.info(
        "cash_out_completed",
        client_id=c.client_id,
        internal_code=c.internal_code,
        end_to_end_id=c.end_to_end_id,
    )
    if count:
        metrics.CASH_OUTS_COMPLETED.inc()


def _failed(e: CashOutFailed, count: bool) -> None:
    c = e.cash_out
    code = c.failure.code if c.failure is not None else "UNKNOWN"
    log.warning(
        "cash_out_failed",
        client_id=c.client_id,
        internal_code=c.internal_code,
        code=code,
        spi_reason_code=c.spi_reason_code,
    )
    if count:
        metrics.CASH_OUTS_FAILED.labels(code).inc()


def _returned(e: CashOutReturned, count: bool) -> None:
    r = e.returned
    log.info(
        "cash_out_returned",
        client_id=e.client_id,
        internal_code=e.cash_out.internal_code,
        return_id=r.return_id,
        reason=r.reason,
        amount=r.amount,
    )
    if count:
        metrics.CASH_OUTS_RETURNED.labels(r.reason).inc()


def _received(e: CashInReceived, count: bool) -> None:
    c = e.cash_in
    log.info(
        "cash_in_received",
        client_id=c.client_id,
        end_to_end_id=c.end_to_end_id,
        charge_internal_code=e.charge.internal_code if e.charge else None,
        amount=c.amount,
        fee=c.fee,
    )
    if count:
        metrics.CASH_INS_RECEIVED.inc()


def _expired(e: ChargeExpired, count: bool) -> None:
    log.info("charge_expired", client_id=e.client_id, internal_code=e.charge.internal_code)
    if count:
        metrics.CHARGES_EXPIRED.inc()


def _refunded(e: RefundCompleted | RefundFailed, count: bool) -> None:
    r = e.refund
    failed = isinstance(e, RefundFailed)
    (log.warning if failed else log.info)(
        "refund_failed" if failed else "refund_completed",
        client_id=r.client_id,
        internal_code=r.internal_code,
        refund_id=r.id,
        return_id=r.return_id,
        amount=r.amount,
        reason=r.reason.spi_code,
        spi_reason_code=r.failure_reason,
    )
    if count:
        metrics.REFUNDS.labels("failed" if failed else "completed", r.reason.spi_code).inc()


def _infraction(
    e: InfractionReported | InfractionAccepted | InfractionRejected, count: bool
) -> None:
    i = e.infraction
    step = {
        InfractionReported: "reported",
        InfractionAccepted: "accepted",
        InfractionRejected: "rejected",
    }[type(e)]
    log.warning(
        f"infraction_{step}",
        client_id=i.client_id,
        infraction_id=i.id,
        end_to_end_id=i.end_to_end_id,
        blocked=i.blocked,
        decided_by=i.decided_by,
    )
    if count:
        metrics.INFRACTIONS.labels(step).inc()


_TELL: dict[type[Event], Callable[[Any, bool], None]] = {
    CashOutCompleted: _completed,
    CashOutFailed: _failed,
    CashOutReturned: _returned,
    CashInReceived: _received,
    ChargeExpired: _expired,
    RefundCompleted: _refunded,
    RefundFailed: _refunded,
    InfractionReported: _infraction,
    InfractionAccepted: _infraction,
    InfractionRejected: _infraction,
}


class BusinessEvents:
    """``committed`` is the units of work's hook (``adapters/storage/uow.py``);
    ``accepted`` the cash-out flow's, told each batch the acceptance engine committed (an
    acceptance is no domain event: its 202 is its only notice)."""

    def __init__(self, *, count: bool = True) -> None:
        self._count = count

    def accepted(self, results: list[AcceptedCashOut]) -> None:
        for r in results:
            log.info(
                "cash_out_accepted",
                client_id=r.client_id,
                internal_code=r.internal_code,
                cash_out_id=r.id,
            )
        if self._count:
            metrics.CASH_OUTS_ACCEPTED.inc(len(results))

    def committed(self, events: Sequence[Event]) -> None:
        for event in events:
            tell = _TELL.get(type(event))
            if tell is None:
                log.info("event_committed", type=event.type, client_id=event.client_id)
                continue
            try:
                tell(event, self._count)
            except Exception as error:  # the commit stands: never fail its caller
                log.error("event_untold", type=event.type, error_type=type(error).__name__)


class CountedInbound:
    """The Pix network's door to us (``service/rail.py: Inbound``), with each incoming
    payment we refuse logged and counted; what we credit is told by its event."""

    def __init__(self, inbound: Inbound, *, count: bool = True) -> None:
        self._inbound = inbound
        self._count = count

    def receive(self, payment: IncomingPayment) -> Receipt:
        receipt = self._inbound.receive(payment)
        if not receipt.accepted:
            reason = receipt.reason or "UNKNOWN"
            log.warning("cash_in_refused", end_to_end_id=payment.end_to_end_id, reason=reason)
            if self._count:
                metrics.CASH_INS_REFUSED.labels(reason).inc()
        return receipt

    def returned(self, back: IncomingReturn) -> Receipt:
        return self._inbound.returned(back)
