"""Ledger rules: double-entry and two-phase, modelled on TigerBeetle.

A transfer moves ``amount`` centavos from one account (debit) to another (credit), so
every transfer balances by construction. A *pending* transfer reserves; a later,
separate transfer *posts* or *voids* it. Transfers are never edited. Every movement of
money is made of these steps, built by the functions below (``single``, ``pending``,
``post``, ``void``), which check each step's own rules; a ``Book`` checks what they do
to the balances of the accounts a decision touches.

Balances per account, all in centavos:
    available = credits_posted - debits_posted - debits_pending
    reserved  = debits_pending
    incoming  = credits_pending (not available until posted)
    total     = credits_posted - debits_posted
A client's account may never be overdrawn: ``debits_posted + debits_pending <=
credits_posted``. Storage enforces the same rule with a CHECK constraint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from connectpsp.domain.errors import (
    FieldError,
    InsufficientBalance,
    LedgerViolation,
    ValidationFailed,
)
from connectpsp.domain.money import MAX_CENTAVOS, Centavos

__all__ = [
    "MAX_FEE_BPS",
    "PSP_FEES",
    "PSP_SETTLEMENT",
    "WORLD",
    "Balance",
    "Book",
    "FeePlan",
    "Transfer",
    "TransferKind",
    "client_account_code",
    "pending",
    "post",
    "single",
    "void",
]

# 10,000 basis points are 100% of the amount.
MAX_FEE_BPS = 10_000

# The PSP's own accounts. Settlement is our reserve account at the central bank;
# fees collects what clients pay us; world is money outside the PSP (sandbox funding).
PSP_SETTLEMENT = "psp:settlement"
PSP_FEES = "psp:fees"
WORLD = "world:external"


def client_account_code(client_id: str) -> str:
    return f"client:{client_id}:available"


class TransferKind(StrEnum):
    SINGLE = "single"  # posted at once
    PENDING = "pending"  # reserves; resolved later by exactly one of the two below
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"


@dataclass(frozen=True)
class Transfer:
    """One immutable step: ``amount`` from ``debit`` to ``credit``. ``code`` says why
    (cash_out, cash_out_fee, sandbox_fund); ``ref`` names the record it belongs to. A
    post or void names the pending transfer it resolves in ``pending_id``."""

    id: str
    debit: str
    credit: str
    amount: Centavos
    kind: TransferKind
    code: str
    ref: str | None
    pending_id: str | None = None

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise LedgerViolation(f"Transfer {self.id} moves {self.amount}: it must move > 0.")
        if self.debit == self.credit:
            raise LedgerViolation(f"Transfer {self.id} debits and credits one account.")
        resolves = self.kind in (TransferKind.POST_PENDING, TransferKind.VOID_PENDING)
        if resolves != (self.pending_id is not None):
            raise LedgerViolation(f"Transfer {self.id}: only a post or void names a pending one.")


def single(
    transfer_id: str, *, debit: str, credit: str, amount: Centavos, code: str, ref: str | None
) -> Transfer:
    """Money moved at once."""
    return Transfer(transfer_id, debit, credit, amount, TransferKind.SINGLE, code, ref)


def pending(
    transfer_id: str, *, debit: str, credit: str, amount: Centavos, code: str, ref: str | None
) -> Transfer:
    """Money reserved: out of the debit's available balance, not yet in the credit's."""
    return Transfer(transfer_id, debit, credit, amount, TransferKind.PENDING, code, ref)


def post(reserved: Transfer, transfer_id: str) -> Transfer:
    """A pending transfer made final, for its whole amount."""
    return _resolution(reserved, transfer_id, TransferKind.POST_PENDING)


def void(reserved: Transfer, transfer_id: str) -> Transfer:
    """A pending transfer undone: the reservation returns to the debit account."""
    return _resolution(reserved, transfer_id, TransferKind.VOID_PENDING)


def _resolution(reserved: Transfer, transfer_id: str, kind: TransferKind) -> Transfer:
    if reserved.kind is not TransferKind.PENDING:
        raise LedgerViolation(f"Transfer {reserved.id} is {reserved.kind}, not pending.")
    return replace(reserved, id=transfer_id, kind=kind, pending_id=reserved.id)


@dataclass(frozen=True)
class Balance:
    credits_posted: Centavos
    debits_posted: Centavos
    debits_pending: Centavos
    credits_pending: Centavos = 0

    def after(self, transfer: Transfer, *, debited: bool) -> Balance:
        """This balance once ``transfer`` is recorded, on its debit or its credit side."""
        amount, kind = transfer.amount, transfer.kind
        # (held, posted): what the pending and the posted side change by. Built directly,
        # not by ``replace``: a batch of a thousand cash-outs checks two thousand steps.
        if kind is TransferKind.PENDING:
            held, posted = amount, 0
        elif kind is TransferKind.POST_PENDING:
            held, posted = -amount, amount
        elif kind is TransferKind.VOID_PENDING:
            held, posted = -amount, 0
        else:
            held, posted = 0, amount
        if debited:
            return Balance(
                self.credits_posted,
                self.debits_posted + posted,
                self.debits_pending + held,
                self.credits_pending,
            )
        return Balance(
            self.credits_posted + posted,
            self.debits_posted,
            self.debits_pending,
            self.credits_pending + held,
        )

    @property
    def available(self) -> Centavos:
        return self.credits_posted - self.debits_posted - self.debits_pending

    @property
    def reserved(self) -> Centavos:
        return self.debits_pending

    @property
    def total(self) -> Centavos:
        return self.credits_posted - self.debits_posted


@dataclass
class Book:
    """The balances of the overdraft-checked (client) accounts a decision touches, read
    once and then changed in memory, step by step: a step that would overdraw one is
    refused before anything is written (the database's CHECK is the second line)."""

    balances: dict[str, Balance] = field(default_factory=dict)

    def available(self, account: str) -> Centavos:
        return self.balances[account].available

    def check(self, *transfers: Transfer) -> dict[str, Balance]:
        """The balances ``transfers`` change, once recorded together;
        ``InsufficientBalance`` if one would leave a checked account below zero. Changes
        nothing until given to ``adopt``."""
        # Accounts the book does not hold (the PSP's own) are not checked.
        changed: dict[str, Balance] = {}
        for transfer in transfers:
            for account, debited in ((transfer.debit, True), (transfer.credit, False)):
                balance = changed[account] if account in changed else self.balances.get(account)
                if balance is not None:
                    changed[account] = balance.after(transfer, debited=debited)
        for balance in changed.values():
            if balance.debits_pending < 0 or balance.credits_pending < 0:
                raise LedgerViolation("A transfer resolves more than was pending.")
            if balance.available < 0:
                raise InsufficientBalance()
        return changed

    def adopt(self, changed: dict[str, Balance]) -> None:
        """Take the balances ``check`` gave: the transfers it checked, recorded."""
        self.balances.update(changed)

    def apply(self, *transfers: Transfer) -> None:
        """Record ``transfers`` together, or none of them (``InsufficientBalance``)."""
        self.adopt(self.check(*transfers))


@dataclass(frozen=True)
class FeePlan:
    """A fixed part in centavos plus basis points of the amount, rounded half up."""

    fixed: Centavos = 0
    bps: int = 0

    def __post_init__(self) -> None:
        """The database refuses a plan outside these bounds too; checking here names the
        field (``fixed``, ``bps``) before anything is written."""
        errors: list[FieldError] = []
        if not _is_int(self.fixed) or not 0 <= self.fixed <= MAX_CENTAVOS:
            errors.append(FieldError("fixed", f"must be between 0 and {MAX_CENTAVOS} centavos"))
        if not _is_int(self.bps) or not 0 <= self.bps <= MAX_FEE_BPS:
            errors.append(
                FieldError("bps", f"must be between 0 and {MAX_FEE_BPS} basis points (100%)")
            )
        if errors:
            raise ValidationFailed(errors)

    def fee_for(self, amount: Centavos) -> Centavos:
        return self.fixed + (amount * self.bps + 5_000) // 10_000


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
