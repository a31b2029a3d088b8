"""Lists and the statement: a client's cash-outs and charges, newest first, and every
movement of its available balance, in order; read in keyset pages (docs/statement.md).

Each list is ordered by a position the storage writes in commit order (a number taken
under a row the writer locks), so a page that continues after a position never misses
an item committed later: a new item always sorts before the first page (lists) or after
the last line (the statement).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from connectpsp.domain.clients import Client
from connectpsp.domain.listing import CashOutItem, ChargeItem, Filters, Movement, Position

__all__ = ["MAX_LIMIT", "ListingStore", "Listings", "Page"]

MAX_LIMIT = 1_000
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next: Position | None = None  # where the next page starts after; None: the last
    positions: list[Position] = field(default_factory=list, repr=False)


class ListingStore(Protocol):
    """Reads in keyset order; each call is one short read transaction. ``after`` is the
    last position already seen; at most ``limit`` items."""

    def cash_outs(
        self, client_id: str, filters: Filters, after: Position | None, limit: int
    ) -> list[tuple[Position, CashOutItem]]:
        """Newest first."""
        ...

    def charges(
        self, client_id: str, filters: Filters, after: Position | None, limit: int
    ) -> list[tuple[Position, ChargeItem]]:
        """Newest first."""
        ...

    def movements(
        self, client_id: str, filters: Filters, after: Position | None, limit: int
    ) -> list[Movement]:
        """Oldest first."""
        ...


class Listings:
    def __init__(self, store: ListingStore) -> None:
        self._store = store

    def cash_outs(
        self, client: Client, filters: Filters, after: Position | None, limit: int
    ) -> Page[CashOutItem]:
        return _page(self._store.cash_outs(client.id, filters, after, limit + 1), limit)

    def charges(
        self, client: Client, filters: Filters, after: Position | None, limit: int
    ) -> Page[ChargeItem]:
        return _page(self._store.charges(client.id, filters, after, limit + 1), limit)

    def statement(
        self, client: Client, filters: Filters, after: Position | None, limit: int
    ) -> Page[Movement]:
        found = self._store.movements(client.id, filters, after, limit + 1)
        return _page([(m.position, m) for m in found], limit)

    def all_movements(self, client: Client, filters: Filters, chunk: int) -> Iterator[Movement]:
        """Every line of a period, read ``chunk`` at a time (a short transaction each):
        memory holds one chunk, however long the period."""
        after: Position | None = None
        while True:
            found = self._store.movements(client.id, filters, after, chunk)
            yield from found
            if len(found) < chunk:
                return
            after = found[-1].position


def _page(found: list[tuple[Position, T]], limit: int) -> Page[T]:
    """One more than ``limit`` was asked for: if it came, there is a next page."""
    shown = found[:limit]
    more = len(found) > limit
    return Page(
        [item for _, item in shown],
        shown[-1][0] if more and shown else None,
        [position for position, _ in shown],
    )
