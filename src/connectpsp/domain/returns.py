"""A payee's bank sends back (part of) a cash-out we made: a return (pacs.004).

The cash-out stays COMPLETED: it was paid. The client is credited what came back, the
fee stays charged, and the returns of one cash-out never add up to more than its amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from connectpsp.domain.cashout import CashOut
from connectpsp.domain.clock import iso_local
from connectpsp.domain.events import Event
from connectpsp.domain.ids import derived_id
from connectpsp.domain.ledger import PSP_SETTLEMENT, Transfer, client_account_code, single
from connectpsp.domain.money import Centavos, to_decimal

__all__ = ["CashOutReturn", "CashOutReturned", "ReturnReason", "return_json", "room_left"]


class ReturnReason(StrEnum):
    """Why a payee's bank returns a Pix (BCB's return reasons)."""

    MD06 = "MD06"  # refund asked for by the payee
    BE08 = "BE08"  # the payee's bank's own error
    FR01 = "FR01"  # fraud
    SL02 = "SL02"  # a Pix Saque/Troco withdrawal


@dataclass(frozen=True)
class CashOutReturn:
    return_id: str  # "D" + the returner's ISPB + yyyyMMddHHmm + 11 characters
    cash_out_id: str
    client_id: str
    amount: Centavos
    reason: str
    returned_at: datetime

    def credit(self) -> Transfer:
        """What came back, into the client's account; its id derives from the returnId,
        so a return brought twice is credited once."""
        return single(
            derived_id(self.return_id, "cash_out_return"),
            debit=PSP_SETTLEMENT,
            credit=client_account_code(self.client_id),
            amount=self.amount,
            code="cash_out_return",
            ref=self.cash_out_id,
        )


def room_left(cash_out: CashOut, returns: list[CashOutReturn]) -> Centavos:
    """How much more of the cash-out may still come back."""
    return cash_out.amount - sum(r.amount for r in returns)


def return_json(r: CashOutReturn) -> dict[str, Any]:
    return {
        "returnId": r.return_id,
        "amount": to_decimal(r.amount),
        "reason": r.reason,
        "returnedAt": iso_local(r.returned_at),
    }


@dataclass(frozen=True)
class CashOutReturned(Event):
    """Money of a cash-out came back (``returns`` is every return so far, this one last)."""

    cash_out: CashOut
    returned: CashOutReturn
    returns: tuple[CashOutReturn, ...]

    type: ClassVar[str] = "CASHOUT_RETURNED"
    subject_kind: ClassVar[str] = "cash_out_return"

    @property
    def subject_id(self) -> str:
        return self.returned.return_id

    @property
    def client_id(self) -> str:
        return self.cash_out.client_id

    @property
    def webhook_url(self) -> str | None:
        return self.cash_out.webhook_url
