"""A client sends back (part of) a Pix it received: a refund (BCB's ``devolucao``, a
pacs.004 with its own ``returnId``).

A refund reserves its amount out of the client's available balance when it is accepted;
the reservation is posted when SPI settles the return, or voided when SPI rejects it, and
the money is available again. The cash-in fee is not given back. The refunds of one
payment that are in process or done never add up to more than the payment, and a refund
is asked for within 90 days of the payment's settlement (BCB's rule for ``devolucao``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from connectpsp.domain.cashin import CashIn, CashInPayer, Charge
from connectpsp.domain.clock import iso_local
from connectpsp.domain.errors import ConnectPSPError, IllegalTransition
from connectpsp.domain.events import Event
from connectpsp.domain.ids import return_id
from connectpsp.domain.ledger import PSP_SETTLEMENT, Transfer, client_account_code, pending
from connectpsp.domain.money import Centavos, to_decimal

__all__ = [
    "MAX_DESCRIPTION",
    "REFUND_WINDOW",
    "Refund",
    "RefundCompleted",
    "RefundExceedsPayment",
    "RefundFailed",
    "RefundReason",
    "RefundRequest",
    "RefundStatus",
    "RefundWindowClosed",
    "UnknownPayment",
    "new_refund",
    "refundable",
]

REFUND_WINDOW = timedelta(days=90)
MAX_DESCRIPTION = 140


class RefundReason(StrEnum):
    """Why a client refunds, as the API names it; ``spi_code`` is the pacs.004 reason."""

    ORIGINAL = "ORIGINAL"  # the payment, or part of it, goes back (MD06)
    WITHDRAWAL = "WITHDRAWAL"  # the cash of a Pix Saque or Troco goes back (SL02)
    FRAUD = "FRAUD"  # a MED report the PSP accepted (FR01); never the client's to ask

    @property
    def spi_code(self) -> str:
        return {"ORIGINAL": "MD06", "WITHDRAWAL": "SL02", "FRAUD": "FR01"}[self.value]


class RefundStatus(StrEnum):
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class RefundExceedsPayment(ConnectPSPError):
    """``details["refundable"]`` is what may still go back."""

    code = "REFUND_EXCEEDS_PAYMENT"
    default_message = "The refunds of this payment would add up to more than the payment."


class RefundWindowClosed(ConnectPSPError):
    code = "REFUND_WINDOW_CLOSED"
    default_message = "A payment can be refunded within 90 days of its settlement only."


class UnknownPayment(ConnectPSPError):
    """No such payment of this charge, or the charge was not paid."""

    code = "PAYMENT_NOT_FOUND"
    default_message = "This charge has no such payment."


@dataclass(frozen=True)
class RefundRequest:
    """A refund as the client asked for it, validated (``api.cashin_schemas``)."""

    internal_code: str | None  # the charge; None: the Pix ``end_to_end_id`` names
    amount: Centavos
    end_to_end_id: str | None = None  # the payment; optional when the charge has one
    reason: RefundReason = RefundReason.ORIGINAL
    description: str | None = None


@dataclass(frozen=True)
class Refund:
    id: str
    return_id: str  # "D" + our ISPB + yyyyMMddHHmm (UTC) + 11 characters
    client_id: str
    charge_id: str | None
    internal_code: str | None  # the charge's
    end_to_end_id: str  # the payment it sends back
    amount: Centavos
    reason: RefundReason
    description: str | None
    payer: CashInPayer  # who paid, and gets it back
    status: RefundStatus
    requested_at: datetime
    webhook_url: str | None = None  # the charge's
    completed_at: datetime | None = None
    failure_reason: str | None = None  # SPI's reason code, when it rejected the return

    def reservation(self) -> Transfer:
        """The amount held out of the client's available balance until SPI answers."""
        return pending(
            self.id,
            debit=client_account_code(self.client_id),
            credit=PSP_SETTLEMENT,
            amount=self.amount,
            code="cash_in_refund",
            ref=self.end_to_end_id,
        )

    def complete(self, at: datetime) -> Refund:
        return self._to(RefundStatus.COMPLETED, at)

    def fail(self, reason: str | None, at: datetime) -> Refund:
        return replace(self._to(RefundStatus.FAILED, at), failure_reason=reason)

    def _to(self, status: RefundStatus, at: datetime) -> Refund:
        if self.status is not RefundStatus.PROCESSING:
            raise IllegalTransition(
                f"The refund is {self.status.value} already.", {"status": self.status.value}
            )
        return replace(self, status=status, completed_at=at)


def refundable(payment: CashIn, refunds: list[Refund]) -> Centavos:
    """What may still go back of ``payment``: its amount less the refunds not failed."""
    held = sum(r.amount for r in refunds if r.status is not RefundStatus.FAILED)
    return payment.amount - held


def new_refund(
    refund_id: str,
    *,
    ispb: str,
    payment: CashIn,
    refunds: list[Refund],
    charge: Charge | None,
    amount: Centavos,
    reason: RefundReason,
    description: str | None,
    now: datetime,
    window: bool = True,
) -> Refund:
    """A refund of ``payment`` (to ``charge``, if it paid one) accepted now, or the rule
    it breaks: past the 90 days (``RefundWindowClosed``; a MED refund is not bound by it:
    ``window=False``), or more than is left (``RefundExceedsPayment``). The balance is
    the caller's to check, with the others accepted in its batch."""
    if window and now - payment.paid_at > REFUND_WINDOW:
        raise RefundWindowClosed(
            details={
                "paidAt": iso_local(payment.paid_at),
                "refundableUntil": iso_local(payment.paid_at + REFUND_WINDOW),
            }
        )
    left = refundable(payment, refunds)
    if amount > left:
        raise RefundExceedsPayment(details={"refundable": str(to_decimal(left))})
    return Refund(
        id=refund_id,
        return_id=return_id(ispb, now, refund_id),
        client_id=payment.client_id,
        charge_id=charge.id if charge else None,
        internal_code=charge.internal_code if charge else None,
        end_to_end_id=payment.end_to_end_id,
        amount=amount,
        reason=reason,
        description=description,
        payer=payment.payer,
        status=RefundStatus.PROCESSING,
        requested_at=now,
        webhook_url=charge.webhook_url if charge else None,
    )


@dataclass(frozen=True)
class _RefundEvent(Event):
    refund: Refund
    subject_kind: ClassVar[str] = "refund"

    @property
    def subject_id(self) -> str:
        return self.refund.id

    @property
    def client_id(self) -> str:
        return self.refund.client_id

    @property
    def webhook_url(self) -> str | None:
        return self.refund.webhook_url


@dataclass(frozen=True)
class RefundCompleted(_RefundEvent):
    type: ClassVar[str] = "REFUND_COMPLETED"


@dataclass(frozen=True)
class RefundFailed(_RefundEvent):
    type: ClassVar[str] = "REFUND_FAILED"
