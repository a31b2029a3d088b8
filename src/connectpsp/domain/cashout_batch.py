"""A batch of cash-outs (``POST /cash-out/batch``): up to ``MAX_ITEMS`` cash-out requests
under one idempotency key, each accepted or refused on its own, in request order.

The batch is one request to the acceptance engine, so its fingerprint is that of what the
client sent: each item's JSON in a canonical form (keys sorted, numbers tagged), never
what the server made of it. A retry of the same body therefore replays the stored answer
even if a setting that judges the items (a client's per-transaction limit, say) changed
in between, and a different body under the same key is ``IDEMPOTENCY_KEY_MISMATCH``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectpsp.domain.cashout import AcceptedCashOut
from connectpsp.domain.errors import ConnectPSPError

__all__ = [
    "MAX_ITEMS",
    "BatchResult",
    "CashOutBatch",
    "ItemRefused",
    "canonical_item",
]

MAX_ITEMS = 1000


@dataclass(frozen=True)
class CashOutBatch:
    """The batch as the engine fingerprints it: each item's canonical JSON, in order."""

    items: tuple[str, ...]


def canonical_item(item: Any) -> str:
    """``item`` (a decoded JSON value) as one canonical text: equal for equal values.
    A number keeps its spelling and is kept apart from a string of the same digits."""
    return json.dumps(
        item, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_tagged
    )


def _tagged(value: object) -> Any:
    if isinstance(value, Decimal):
        return {"$number": str(value)}
    raise TypeError(f"{type(value).__name__} is not JSON")


@dataclass(frozen=True)
class ItemRefused:
    """An item refused, as data: what a single cash-out would have answered (its code,
    message and details). Stored and replayed with the batch's other results."""

    code: str
    message: str
    details: Any = None

    @classmethod
    def of(cls, error: ConnectPSPError) -> ItemRefused:
        return cls(error.code, error.message, error.details)

    def as_record(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


@dataclass(frozen=True)
class BatchResult:
    """Every item's outcome, in request order."""

    items: tuple[AcceptedCashOut | ItemRefused, ...]

    @property
    def accepted(self) -> list[AcceptedCashOut]:
        return [item for item in self.items if isinstance(item, AcceptedCashOut)]

    def as_record(self) -> dict[str, Any]:
        return {
            "batch": [
                {"refused": item.as_record()}
                if isinstance(item, ItemRefused)
                else {"accepted": item.as_record()}
                for item in self.items
            ]
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> BatchResult:
        items: list[AcceptedCashOut | ItemRefused] = []
        for item in record["batch"]:
            if "refused" in item:
                refused = item["refused"]
                items.append(ItemRefused(refused["code"], refused["message"], refused["details"]))
            else:
                items.append(AcceptedCashOut.from_record(item["accepted"]))
        return cls(tuple(items))
