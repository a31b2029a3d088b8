"""What the lists and the statement are made of: a position in keyset order, the
filters, a line of the statement, and a listed item with what its view shows
(service/statement.py reads them; docs/statement.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from connectpsp.domain.cashin import CashIn, Charge
from connectpsp.domain.cashout import CashOut
from connectpsp.domain.ledger import TransferKind
from connectpsp.domain.money import Centavos
from connectpsp.domain.returns import CashOutReturn

__all__ = ["CashOutItem", "ChargeItem", "Filters", "Movement", "Position", "movement_type"]


@dataclass(frozen=True, order=True)
class Position:
    """Where an item sorts: a time and a number (ties broken by the number)."""

    at: datetime
    seq: int


@dataclass(frozen=True)
class Filters:
    """``start`` inclusive, ``end`` exclusive (aware times); None: unbounded."""

    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None
    external_reference: str | None = None


@dataclass(frozen=True)
class Movement:
    """One line of the statement: a change of the available balance."""

    position: Position
    transfer_id: str
    type: str  # CASH_OUT, CASH_OUT_FEE, CASH_OUT_REVERSAL, CASH_IN, BLOCK, ...
    change: Centavos  # signed: a credit is positive
    balance_after: Centavos
    subject_kind: str | None
    internal_code: str | None
    end_to_end_id: str | None

    @property
    def created_at(self) -> datetime:
        return self.position.at


@dataclass(frozen=True)
class ChargeItem:
    charge: Charge
    payments: list[CashIn]


@dataclass(frozen=True)
class CashOutItem:
    cash_out: CashOut
    returns: list[CashOutReturn]


# A movement's type is its ledger code's, but for these.
_TYPES = {"cash_in_refund": "REFUND", "sandbox_fund": "SANDBOX_FUNDING"}


def movement_type(code: str, kind: str) -> str:
    """CASH_OUT, CASH_OUT_FEE, CASH_IN, BLOCK, ...; a void gives back: ``..._REVERSAL``."""
    name = _TYPES.get(code, code.upper())
    return f"{name}_REVERSAL" if kind == TransferKind.VOID_PENDING else name
