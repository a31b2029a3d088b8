"""Ledger rules: double-entry and two-phase, modelled on TigerBeetle.

A transfer moves ``amount`` centavos from one account (debit) to another (credit), so
every transfer balances by construction. A *pending* transfer reserves; a later,
separate transfer *posts* or *voids* it. Transfers are never edited.

Balances per account, all in centavos:
    available = credits_posted - debits_posted - debits_pending
    reserved  = debits_pending
    total     = credits_posted - debits_posted
A client's account may never be overdrawn: ``debits_posted + debits_pending <=
credits_posted``. Storage enforces the same rule with a CHECK constraint.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.money import MAX_CENTAVOS, Centavos

__all__ = [
    "MAX_FEE_BPS",
    "PSP_FEES",
    "PSP_SETTLEMENT",
    "WORLD",
    "Balance",
    "FeePlan",
    "TransferKind",
    "client_account_code",
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
class Balance:
    credits_posted: Centavos
    debits_posted: Centavos
    debits_pending: Centavos

    @property
    def available(self) -> Centavos:
        return self.credits_posted - self.debits_posted - self.debits_pending

    @property
    def reserved(self) -> Centavos:
        return self.debits_pending

    @property
    def total(self) -> Centavos:
        return self.credits_posted - self.debits_posted


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
