"""The cash-out: a payment from a client's balance to a Pix key or a bank account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from connectpsp.domain.documents import document_type
from connectpsp.domain.errors import IllegalTransition
from connectpsp.domain.money import Centavos
from connectpsp.domain.pix import AccountType, PixKeyType

__all__ = [
    "AcceptedCashOut",
    "BankAccount",
    "CashOut",
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
    key_type: PixKeyType
    key: str


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
