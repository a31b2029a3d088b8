"""Bulk payouts: ``cash_outs.create_many`` sends up to 1,000 cash-outs in one signed
``POST /cash-out/batch`` under one idempotency key (every retry reuses it, so a batch
whose answer was lost is replayed, never paid twice). Each item is answered on its own:
its ``AcceptedCashOut``, or the error ``cash_outs.create`` would have raised for it,
returned in its place rather than raised."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectpsp.client._models import AcceptedCashOut, Amount, Payee
from connectpsp.client._plans import Plan, cash_out_body
from connectpsp.client.errors import ConnectPSPError, error_for

__all__ = ["MAX_ITEMS", "CashOutItem", "create_many_plan"]

MAX_ITEMS = 1000


@dataclass(frozen=True)
class CashOutItem:
    """One cash-out of a batch: what ``cash_outs.create`` takes, but its key."""

    amount: Amount | Decimal | str
    external_reference: str
    payee: Payee | Mapping[str, Any]
    description: str | None = None
    webhook_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return cash_out_body(
            self.amount, self.external_reference, self.payee, self.description, self.webhook_url
        )


def _results(body: Any) -> list[AcceptedCashOut | ConnectPSPError]:
    found: list[AcceptedCashOut | ConnectPSPError] = []
    for result in body["results"]:
        status = int(result["status"])
        if status == 202:
            found.append(AcceptedCashOut.from_json(result["cashOut"]))
        else:
            found.append(error_for(status, {"error": result["error"]}, None))
    return found


def create_many_plan(
    items: Sequence[CashOutItem], idempotency_key: str | None
) -> Plan[list[AcceptedCashOut | ConnectPSPError]]:
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ValueError(f"a batch holds 1 to {MAX_ITEMS:,} cash-outs, not {len(items):,}")
    if not all(isinstance(item, CashOutItem) for item in items):
        raise TypeError("each item must be a CashOutItem")
    return Plan(
        "POST",
        "/cash-out/batch",
        _results,
        body={"items": [item.to_json() for item in items]},
        idempotency_key=idempotency_key,
        sign=True,
    )
