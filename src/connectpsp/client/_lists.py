"""Lists in the SDK: ``psp.cash_outs.list(status="FAILED")``, ``psp.cash_ins.list()`` and
``psp.statement.list(from_=..., to=...)`` are iterators that fetch the next page as you
reach it (``nextCursor``), so ``for co in ...`` walks every item, however many; and
``psp.statement.csv(from_=..., to=...)`` downloads a period as CSV bytes. The async
client's are ``async for`` iterators and an awaitable ``csv``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from connectpsp.client import _resources
from connectpsp.client._charges import Charge
from connectpsp.client._models import CashOut, _money, parse_time
from connectpsp.client._plans import Plan, _aware

if TYPE_CHECKING:
    from connectpsp.client._client import AsyncConnectPSP, ConnectPSP

__all__ = [
    "AsyncCashIns",
    "AsyncCashOuts",
    "AsyncStatement",
    "CashIns",
    "CashOuts",
    "Movement",
    "Statement",
]

T = TypeVar("T")
When = date | datetime | str
Page = tuple[list[T], str | None]


@dataclass(frozen=True)
class Movement:
    """One line of the statement: a change of your available balance. ``amount`` is
    positive; ``movement_type`` (CREDIT or DEBIT) says which way; ``balance_after`` is the
    available balance once it happened (docs/statement.md)."""

    movement_id: str
    type: str  # CASH_OUT, CASH_OUT_FEE, CASH_OUT_REVERSAL, CASH_IN, BLOCK, REFUND, ...
    movement_type: str
    amount: Decimal
    balance_after: Decimal
    subject_kind: str | None  # cash_out, cash_in, refund or funding
    internal_code: str | None
    end_to_end_id: str | None
    created_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Movement:
        subject = d.get("subject") or {}
        return cls(
            movement_id=d["movementId"],
            type=d["type"],
            movement_type=d["movementType"],
            amount=_money(d["amount"]),
            balance_after=_money(d["balanceAfter"]),
            subject_kind=subject.get("kind"),
            internal_code=subject.get("internalCode"),
            end_to_end_id=d.get("endToEndId"),
            created_at=parse_time(d["createdAt"]),
        )


def _when(value: When | None, name: str) -> str | None:
    """A date or an aware datetime as ISO 8601; a string as given (read in -03:00 by
    the server when it has no offset)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return _aware(value, name)
    return value.isoformat()


def _filters(
    page_size: int,
    status: str | None = None,
    from_: When | None = None,
    to: When | None = None,
    external_reference: str | None = None,
) -> dict[str, Any]:
    """Always with ``limit``: ``externalReference`` alone would ask for one object."""
    if not 1 <= page_size <= 1000:
        raise ValueError("page_size must be between 1 and 1000")
    found = {
        "limit": page_size,
        "status": status,
        "from": _when(from_, "from_"),
        "to": _when(to, "to"),
        "externalReference": external_reference,
    }
    return {k: v for k, v in found.items() if v is not None}


def _page_plan(path: str, params: dict[str, Any], read: Callable[[Any], T]) -> Plan[Page[T]]:
    def page(d: Any) -> Page[T]:
        return [read(item) for item in d["items"]], d.get("nextCursor")

    return Plan("GET", path, page, params=params)


def _pages(
    client: ConnectPSP, path: str, params: dict[str, Any], read: Callable[[Any], T]
) -> Iterator[T]:
    cursor: str | None = None
    while True:
        items, cursor = client._send(_page_plan(path, {**params, **_cursor(cursor)}, read))
        yield from items
        if cursor is None:
            return


async def _async_pages(
    client: AsyncConnectPSP, path: str, params: dict[str, Any], read: Callable[[Any], T]
) -> AsyncIterator[T]:
    cursor: str | None = None
    while True:
        items, cursor = await client._send(_page_plan(path, {**params, **_cursor(cursor)}, read))
        for item in items:
            yield item
        if cursor is None:
            return


def _cursor(cursor: str | None) -> dict[str, str]:
    return {"cursor": cursor} if cursor else {}


def _csv_plan(from_: When | None, to: When | None) -> Plan[bytes]:
    params = {k: v for k, v in (("from", _when(from_, "from_")), ("to", _when(to, "to"))) if v}
    return Plan("GET", "/statement.csv", bytes, params=params, media_type="text/csv")


class CashOuts(_resources.CashOuts):
    def list(
        self,
        *,
        status: str | None = None,
        from_: When | None = None,
        to: When | None = None,
        external_reference: str | None = None,
        page_size: int = 100,
    ) -> Iterator[CashOut]:
        """Your cash-outs, newest first, fetched a page at a time as you iterate."""
        params = _filters(page_size, status, from_, to, external_reference)
        return _pages(self._c, "/cash-out", params, CashOut.from_json)


class AsyncCashOuts(_resources.AsyncCashOuts):
    def list(
        self,
        *,
        status: str | None = None,
        from_: When | None = None,
        to: When | None = None,
        external_reference: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[CashOut]:
        params = _filters(page_size, status, from_, to, external_reference)
        return _async_pages(self._c, "/cash-out", params, CashOut.from_json)


class CashIns(_resources.CashIns):
    def list(
        self,
        *,
        status: str | None = None,
        from_: When | None = None,
        to: When | None = None,
        external_reference: str | None = None,
        page_size: int = 100,
    ) -> Iterator[Charge]:
        """Your charges, newest first, each with its payments."""
        params = _filters(page_size, status, from_, to, external_reference)
        return _pages(self._c, "/cash-in", params, Charge.from_json)


class AsyncCashIns(_resources.AsyncCashIns):
    def list(
        self,
        *,
        status: str | None = None,
        from_: When | None = None,
        to: When | None = None,
        external_reference: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[Charge]:
        params = _filters(page_size, status, from_, to, external_reference)
        return _async_pages(self._c, "/cash-in", params, Charge.from_json)


class Statement:
    def __init__(self, client: ConnectPSP) -> None:
        self._c = client

    def list(
        self, *, from_: When | None = None, to: When | None = None, page_size: int = 100
    ) -> Iterator[Movement]:
        """Every movement of your available balance in the period, oldest first."""
        params = _filters(page_size, from_=from_, to=to)
        return _pages(self._c, "/statement", params, Movement.from_json)

    def csv(self, *, from_: When | None = None, to: When | None = None) -> bytes:
        """The period's statement as CSV (a header row; amounts as 10.00; -03:00 times)."""
        return self._c._send(_csv_plan(from_, to))


class AsyncStatement:
    def __init__(self, client: AsyncConnectPSP) -> None:
        self._c = client

    def list(
        self, *, from_: When | None = None, to: When | None = None, page_size: int = 100
    ) -> AsyncIterator[Movement]:
        params = _filters(page_size, from_=from_, to=to)
        return _async_pages(self._c, "/statement", params, Movement.from_json)

    async def csv(self, *, from_: When | None = None, to: When | None = None) -> bytes:
        return await self._c._send(_csv_plan(from_, to))
