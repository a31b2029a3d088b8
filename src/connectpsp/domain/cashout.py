"""The cash-out: a payment from a client's balance to a Pix key or a bank account."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from connectpsp.domain.documents import document_type
from connectpsp.domain.errors import (
    IllegalTransition,
)
from connectpsp.domain.events import Event
from connectpsp.domain.money import Centavos
from connectpsp.domain.pix import AccountType, PixKeyType

__all__ = [
    "AcceptedCashOut",
    "BankAccount",
    "CashOut",
    "CashOutCompleted",
    "CashOutFailed",
    "CashOutRequest",
    "CashOutStatus",
    "Creditor",
    "Failure",
    "Payee",
    "PixDestination",
]


class CashOutStatus(StrEnum):
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return not _TRANSITIONS[self]

    def check_transition(self, to: CashOutStatus) -> None:
        if to not in _TRANSITIONS[self]:
            raise IllegalTransition(f"A cash-out cannot go from {self} to {to}.")


# The one transition table: PROCESSING -> COMPLETED | FAILED, and nothing after.
_TRANSITIONS: dict[CashOutStatus, frozenset[CashOutStatus]] = {
    CashOutStatus.PROCESSING: frozenset({CashOutStatus.COMPLETED, CashOutStatus.FAILED}),
    CashOutStatus.COMPLETED: frozenset(),
    CashOutStatus.FAILED: frozenset(),
}


@dataclass(frozen=True)
class PixDestination:
    """A Pix key; when paying a BR Code, the code (as sent) and the txid it carries,
    which the payment passes on so that the receiver matches its charge."""

    key_type: PixKeyType
    key: str
    br_code: str | None = None
    txid: str | None = None


@dataclass(frozen=True)
class BankAccount:
    ispb: str
    branch: str
    account: str
    account_type: AccountType


@dataclass(frozen=True)
class Creditor:
    """Who the money actually goes to: the account DICT resolved a key to, or the bank
    account given. Kept on the cash-out once known (webhooks name the counterpart)."""

    name: str
    document: str
    ispb: str
    branch: str
    account: str
    account_type: AccountType

    @property
    def person_type(self) -> str:
        """DICT's owner type: NATURAL_PERSON for a CPF, LEGAL_PERSON for a CNPJ."""
        return document_type(self.document).person_type


@dataclass(frozen=True)
class Payee:
    name: str
    document: str
    destination: PixDestination | BankAccount


@dataclass(frozen=True)
class CashOutRequest:
    """A validated request, in domain terms (amount in centavos)."""

    amount: Centavos
    external_reference: str
    description: str | None
    webhook_url: str | None
    payee: Payee


@dataclass(frozen=True)
class AcceptedCashOut:
    """What the acceptance of a cash-out answers (the 202), kept to replay it."""

    id: str
    internal_code: str
    external_reference: str
    requested_at: datetime
    # Whose it is, for the business log; not in the record (a replay is never logged).
    client_id: str = field(default="", compare=False)

    def as_record(self) -> dict[str, str]:
        return {
            "id": self.id,
            "internalCode": self.internal_code,
            "externalReference": self.external_reference,
            "requestedAt": self.requested_at.isoformat(),
        }

    @classmethod
    def from_record(cls, record: dict[str, str]) -> AcceptedCashOut:
        return cls(
            record["id"],
            record["internalCode"],
            record["externalReference"],
            datetime.fromisoformat(record["requestedAt"]),
        )


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


@dataclass(frozen=True)
class CashOut:
    id: str  # transactionId
    internal_code: str
    client_id: str
    external_reference: str
    amount: Centavos
    fee: Centavos
    description: str | None
    webhook_url: str | None
    payee: Payee
    status: CashOutStatus
    requested_at: datetime
    end_to_end_id: str | None = None
    paid_at: datetime | None = None
    failure: Failure | None = None
    spi_reason_code: str | None = None
    submitted_at: datetime | None = None  # when it was first sent to the rail
    creditor: Creditor | None = None

    @property
    def final_amount(self) -> Centavos:
        return self.amount + self.fee

    # The life of a cash-out. Each step returns the cash-out after it, or raises
    # ``IllegalTransition``; storage persists what these decided, guarded by the status
    # they started from, so two workers cannot both make one move.

    def submit(self, creditor: Creditor, at: datetime) -> CashOut:
        """Sent to the rail, to ``creditor``: once, and only while PROCESSING."""
        if self.status is not CashOutStatus.PROCESSING or self.submitted_at is not None:
            raise IllegalTransition(f"A {self.status} cash-out sent before cannot be sent again.")
        return replace(self, submitted_at=at, creditor=creditor)

    def complete(self, end_to_end_id: str, paid_at: datetime) -> CashOut:
        self.status.check_transition(CashOutStatus.COMPLETED)
        return replace(
            self, status=CashOutStatus.COMPLETED, end_to_end_id=end_to_end_id, paid_at=paid_at
        )

    def fail(self, failure: Failure, spi_reason_code: str | None = None) -> CashOut:
        self.status.check_transition(CashOutStatus.FAILED)
        return replace(
            self, status=CashOutStatus.FAILED, failure=failure, spi_reason_code=spi_reason_code
        )


@dataclass(frozen=True)
class _CashOutEvent(Event):
    cash_out: CashOut

    subject_kind: ClassVar[str] = "cash_out"

    @property
    def subject_id(self) -> str:
        return self.cash_out.id

    @property
    def client_id(self) -> str:
        return self.cash_out.client_id

    @property
    def webhook_url(self) -> str | None:
        return self.cash_out.webhook_url


@dataclass(frozen=True)
class CashOutCompleted(_CashOutEvent):
    type: ClassVar[str] = "CASHOUT_COMPLETED"


@dataclass(frozen=True)
class CashOutFailed(_CashOutEvent):
    type: ClassVar[str] = "CASHOUT_FAILED"
