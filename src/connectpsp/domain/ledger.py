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

from connectpsp.domain.money import Centavos

__all__ = [
    "PSP_FEES",
    "PSP_SETTLEMENT",
    "WORLD",
    "Balance",
    "FeePlan",
    "TransferKind",
    "client_account_code",
]

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

    def fee_for(self, amount: Centavos) -> Centavos:
        return self.fixed + (amount * self.bps + 5_000) // 10_000
