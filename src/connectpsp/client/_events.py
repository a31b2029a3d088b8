"""The typed events a ConnectPSP webhook carries (``connectpsp.webhooks`` re-exports
them; ``_webhooks`` verifies and parses)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectpsp.client._charges import CashInPayer, Refund
from connectpsp.client._infractions import InfractionChanged, InfractionMovement
from connectpsp.client._models import Failure, Payee

__all__ = [
    "CashInCompleted",
    "CashInExpired",
    "CashInMovement",
    "CashInRefundMovement",
    "CashOutCompleted",
    "CashOutFailed",
    "CashOutMovement",
    "CashOutReturnMovement",
    "CashOutReturned",
    "Counterpart",
    "Event",
    "RefundCompleted",
    "RefundFailed",
]


@dataclass(frozen=True)
class CashOutCompleted:
    """Seed 000's CASHOUT_COMPLETED, sent to the cash-out's own webhookUrl."""

    webhook_id: str
    event_at: datetime
    internal_code: str
    external_reference: str
    end_to_end_id: str
    amount: Decimal
    payee: Payee
    requested_at: datetime
    paid_at: datetime


@dataclass(frozen=True)
class CashOutFailed:
    """Seed 000's CASHOUT_FAILED. The reserved funds are already available again."""

    webhook_id: str
    event_at: datetime
    internal_code: str
    external_reference: str
    amount: Decimal
    payee: Payee
    failure: Failure
    requested_at: datetime


@dataclass(frozen=True)
class Counterpart:
    name: str
    document: str  # masked: ***.456.789-**
    bank_ispb: str | None
    bank_name: str | None
    bank_code: str | None
    account_branch: str | None
    account_number: str | None


@dataclass(frozen=True)
class CashOutMovement:
    """Seed 004's account movement ``CashOut`` (DEBIT), to registered endpoints.
    ``status`` is CONFIRMED, or ERROR (then nothing was debited)."""

    webhook_id: str
    status: str
    transaction_id: str
    external_id: str
    end_to_end_id: str | None
    pix_key: str | None
    fee_amount: Decimal
    original_amount: Decimal
    final_amount: Decimal
    processing_date: datetime
    error_code: str | None
    error_message: str | None
    counterpart: Counterpart
    metadata: Mapping[str, Any]  # read-only (a MappingProxyType; arrays are tuples)

    @property
    def confirmed(self) -> bool:
        return self.status == "CONFIRMED"


@dataclass(frozen=True)
class CashInCompleted:
    """CASHIN_COMPLETED, sent to the charge's own webhookUrl: a payment was credited.
    ``status`` is the charge's after it: COMPLETED, or ACTIVE for a static code, which
    takes more payments. ``net_amount`` (the amount less the fee) is what was credited."""

    webhook_id: str
    event_at: datetime
    transaction_id: str
    internal_code: str | None  # None (as txid and external_reference) for a Pix to a key
    txid: str | None
    external_reference: str | None
    status: str
    amount: Decimal
    fee_amount: Decimal
    net_amount: Decimal
    end_to_end_id: str
    paid_at: datetime
    payer: CashInPayer


@dataclass(frozen=True)
class CashInExpired:
    """CASHIN_EXPIRED, sent to the charge's own webhookUrl: a dynamic charge's time ran
    out before anyone paid it. Nothing was credited."""

    webhook_id: str
    event_at: datetime
    transaction_id: str
    internal_code: str
    txid: str
    external_reference: str
    status: str
    amount: Decimal
    expires_at: datetime


@dataclass(frozen=True)
class CashInMovement:
    """The account movement ``CashIn`` (CREDIT, CONFIRMED), to registered endpoints: a
    Pix received, to a charge or to a key. ``final_amount`` (``original_amount`` less
    ``fee_amount``) is what reached the account; ``counterpart`` is the payer."""

    webhook_id: str
    status: str
    transaction_id: str
    external_id: str | None  # the charge's externalReference; None for a Pix to a key
    end_to_end_id: str
    pix_key: str | None
    fee_amount: Decimal
    original_amount: Decimal
    final_amount: Decimal
    processing_date: datetime
    counterpart: Counterpart
    metadata: Mapping[str, Any]  # read-only (a MappingProxyType; arrays are tuples)

    @property
    def confirmed(self) -> bool:
        return self.status == "CONFIRMED"


@dataclass(frozen=True)
class CashOutReturned:
    """CASHOUT_RETURNED, sent to the cash-out's own webhookUrl: the payee's bank sent
    (part of) it back. The cash-out stays COMPLETED; ``returned_amount`` is every return
    so far, this one (``return_id``, ``return_amount``, ``reason``) included."""

    webhook_id: str
    event_at: datetime
    internal_code: str
    external_reference: str
    end_to_end_id: str | None
    status: str
    amount: Decimal
    returned_amount: Decimal
    return_id: str
    return_amount: Decimal
    reason: str
    returned_at: datetime


@dataclass(frozen=True)
class CashOutReturnMovement:
    """The account movement ``CashOutReturn`` (CREDIT, CONFIRMED), to registered
    endpoints: ``end_to_end_id`` is the return's own id, ``original_end_to_end_id`` the
    cash-out's."""

    webhook_id: str
    transaction_id: str
    external_id: str
    end_to_end_id: str
    original_end_to_end_id: str | None
    final_amount: Decimal
    processing_date: datetime
    reason: str | None
    counterpart: Counterpart


@dataclass(frozen=True)
class RefundCompleted:
    """REFUND_COMPLETED, sent to the charge's own webhookUrl: SPI settled the refund, and
    its amount left the balance. ``refund`` is as ``psp.refunds.get`` reads it."""

    webhook_id: str
    event_at: datetime
    refund: Refund


@dataclass(frozen=True)
class RefundFailed:
    """REFUND_FAILED, sent to the charge's own webhookUrl: SPI rejected the refund
    (``refund.failure`` says why), and its amount is available again."""

    webhook_id: str
    event_at: datetime
    refund: Refund


@dataclass(frozen=True)
class CashInRefundMovement:
    """The account movement ``CashInRefund`` (DEBIT), to registered endpoints: CONFIRMED
    when the refund settled, ERROR when SPI rejected it (then nothing left the account).
    ``transaction_id`` is the refund's id, ``end_to_end_id`` the return's own id and
    ``original_end_to_end_id`` the payment's; ``counterpart`` is the payer, paid back."""

    webhook_id: str
    status: str
    transaction_id: str
    end_to_end_id: str
    original_end_to_end_id: str
    final_amount: Decimal
    processing_date: datetime
    error_code: str | None
    error_message: str | None
    reason: str | None  # SPI's: MD06 (ORIGINAL) or SL02 (WITHDRAWAL)
    internal_code: str | None  # the charge's
    counterpart: Counterpart

    @property
    def confirmed(self) -> bool:
        return self.status == "CONFIRMED"


Event = (
    CashOutCompleted
    | CashOutFailed
    | CashOutMovement
    | CashOutReturned
    | CashOutReturnMovement
    | CashInCompleted
    | CashInExpired
    | CashInMovement
    | CashInRefundMovement
    | RefundCompleted
    | RefundFailed
    | InfractionChanged
    | InfractionMovement
)
