"""The cash-out: a payment from a client's balance to a Pix key or a bank account."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from connectpsp.domain.clients import Client
from connectpsp.domain.documents import document_type
from connectpsp.domain.errors import (
    DuplicateExternalReference,
    IllegalTransition,
    LimitExceeded,
)
from connectpsp.domain.events import Event
from connectpsp.domain.ids import derived_id, new_id, new_internal_code
from connectpsp.domain.ledger import (
    PSP_FEES,
    PSP_SETTLEMENT,
    Book,
    Transfer,
    client_account_code,
    pending,
)
from connectpsp.domain.money import Centavos
from connectpsp.domain.pix import AccountType, PixKeyType

__all__ = [
    "Acceptance",
    "AcceptedCashOut",
    "BankAccount",
    "CashOut",
    "CashOutBook",
    "CashOutCompleted",
    "CashOutFailed",
    "CashOutRequest",
    "CashOutStatus",
    "Creditor",
    "Failure",
    "Payee",
    "PixDestination",
    "decide",
    "fee_transfer_id",
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


def fee_transfer_id(cash_out_id: str) -> str:
    """The fee's pending transfer; the amount's shares the cash-out's own id."""
    return derived_id(cash_out_id, "fee")


@dataclass
class CashOutBook:
    """What cash-out requests are decided against, read once for a batch and changed by
    each acceptance: the balances, the references taken, the day's usage per client."""

    ledger: Book
    references: set[tuple[str, str]]  # (client id, externalReference)
    usage: dict[str, Centavos]  # the business day's amount per client id


@dataclass(frozen=True)
class Acceptance:
    """An accepted cash-out and the transfers that reserve its amount and fee."""

    cash_out: CashOut
    transfers: tuple[Transfer, ...]


def decide(book: CashOutBook, client: Client, request: CashOutRequest, now: datetime) -> Acceptance:
    """Accept ``request``, or raise its refusal, checked in the order a client meets
    them: a reference used before, a balance short of amount plus fee, the daily limit.
    ``book`` changes only on an acceptance."""
    reference = (client.id, request.external_reference)
    if reference in book.references:
        raise DuplicateExternalReference()
    fee = client.fee_plan.fee_for(request.amount)
    cash_out = CashOut(
        id=new_id(),
        internal_code=new_internal_code(),
        client_id=client.id,
        external_reference=request.external_reference,
        amount=request.amount,
        fee=fee,
        description=request.description,
        webhook_url=request.webhook_url,
        payee=request.payee,
        status=CashOutStatus.PROCESSING,
        requested_at=now,
    )
    account = client_account_code(client.id)
    # The amount's pending transfer shares the cash-out's id, so settlement finds it.
    transfers = [
        pending(
            cash_out.id,
            debit=account,
            credit=PSP_SETTLEMENT,
            amount=request.amount,
            code="cash_out",
            ref=cash_out.id,
        )
    ]
    if fee:
        transfers.append(
            pending(
                fee_transfer_id(cash_out.id),
                debit=account,
                credit=PSP_FEES,
                amount=fee,
                code="cash_out_fee",
                ref=cash_out.id,
            )
        )
    book.ledger.check(*transfers)  # InsufficientBalance
    used = book.usage.get(client.id, 0)
    if used + request.amount > client.daily_limit:
        raise LimitExceeded()
    book.ledger.apply(*transfers)
    book.references.add(reference)
    book.usage[client.id] = used + request.amount
    return Acceptance(cash_out, tuple(transfers))
