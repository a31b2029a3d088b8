"""The operator's search over every client's received Pix (cash-ins), one cash-in's
timeline, and the refunds of every client (docs/console.md).

A cash-in is credited when it is received: its record has no status of its own. What
the console searches by "status" is what happened to it since: funds of it blocked now
(a fraud marker's precaution or a MED report), refunds of it in process or done, a MED
report against it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum

from connectpsp.domain.blocks import Block
from connectpsp.domain.cashin import CashIn
from connectpsp.domain.cashout_search import (
    LedgerLine,
    Moment,
    RailRecord,
    attempt_moments,
    in_order,
)
from connectpsp.domain.infractions import Infraction, InfractionStatus
from connectpsp.domain.money import Centavos
from connectpsp.domain.refunds import Refund, RefundStatus
from connectpsp.domain.search_form import SearchForm
from connectpsp.domain.webhooks import DeliveryView

__all__ = [
    "CashInQuery",
    "CashInRow",
    "CashInState",
    "CashInTimeline",
    "parse_query",
    "parse_refund_status",
]


_CREDIT = ("cash_in", "cash_in_fee")  # the transfers written with the cash-in
_AFTER = 4


class CashInState(StrEnum):
    BLOCKED = "BLOCKED"  # some of it is held now
    REFUNDED = "REFUNDED"  # a refund of it is in process or done
    MED = "MED"  # a MED report names it


@dataclass(frozen=True)
class CashInQuery:
    """Each given field must match exactly; ``start`` inclusive, ``end`` exclusive (of
    the moment it was credited)."""

    internal_code: str | None = None  # the charge's
    txid: str | None = None
    external_reference: str | None = None  # the charge's
    end_to_end_id: str | None = None
    payer_document: str | None = None
    state: CashInState | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def parse_query(form: dict[str, str]) -> CashInQuery:
    """The search form's fields (blank ones ignored); days as ``cashout_search``'s."""
    f = SearchForm(form)
    query = CashInQuery(
        internal_code=f.ident("internalCode"),
        txid=f.ident("txid"),
        external_reference=f.ident("externalReference"),
        end_to_end_id=f.ident("endToEndId"),
        payer_document=f.document("payerDocument"),
        state=f.choice("status", CashInState),
    )
    start, end = f.days()
    f.check()
    return replace(query, start=start, end=end)


def parse_refund_status(form: dict[str, str]) -> RefundStatus | None:
    """The refunds list's one filter."""
    f = SearchForm(form)
    status = f.choice("status", RefundStatus)
    f.check()
    return status


@dataclass(frozen=True)
class CashInRow:
    """A cash-in as the list shows it: the charge it paid, if any, and what since."""

    cash_in: CashIn
    internal_code: str | None = None
    external_reference: str | None = None
    refunded: Centavos = 0  # by refunds in process or done
    blocked: Centavos = 0  # held now
    med: InfractionStatus | None = None

    def states(self) -> list[str]:
        """Its marks, beyond COMPLETED (credited), as the list writes them."""
        marks = []
        if self.blocked:
            marks.append("BLOCKED")
        if self.refunded:
            whole = self.refunded >= self.cash_in.amount
            marks.append("REFUNDED" if whole else "PARTLY REFUNDED")
        if self.med is not None:
            marks.append(f"MED {self.med.value}")
        return marks


@dataclass(frozen=True)
class CashInTimeline:
    row: CashInRow
    client_name: str
    paid_by: str | None  # our own client's cash-out that paid it (an on-us Pix)
    transfers: list[LedgerLine]
    rail: list[RailRecord]  # its refunds' returns, as the simulated SPI keeps them
    deliveries: list[DeliveryView]
    refunds: list[Refund]
    blocks: list[Block]
    infraction: Infraction | None

    @property
    def cash_in(self) -> CashIn:
        return self.row.cash_in

    def moments(self) -> list[Moment]:
        """Everything recorded, oldest first (``in_order``)."""
        c = self.cash_in
        found: list[tuple[int, Moment]] = [
            (0, Moment(c.paid_at, "cash-in", f"paid by {c.payer.name}")),
            (1, Moment(c.received_at, "cash-in", "credited")),
        ]
        # What came after the credit shares one rank: in its own time's order, and
        # each record before the ledger lines it wrote.
        for b in self.blocks:
            found.append((_AFTER, Moment(b.created_at, "block", f"{b.reason.value} block")))
            if b.released_at is not None:
                said = f"released by {b.released_by}"
                found.append((_AFTER, Moment(b.released_at, "block", said)))
        if (i := self.infraction) is not None:
            found.append((_AFTER, Moment(i.reported_at, "MED", "reported")))
            if i.decided_at is not None:
                said = f"{i.status.value.lower()} by {i.decided_by}"
                found.append((_AFTER, Moment(i.decided_at, "MED", said)))
        for r in self.refunds:
            found.append((_AFTER, Moment(r.requested_at, "refund", f"{r.reason.value} asked")))
            if r.completed_at is not None:
                found.append((_AFTER, Moment(r.completed_at, "refund", r.status.value)))
        for t in self.transfers:
            rank = 2 if t.code in _CREDIT else _AFTER
            found.append((rank, Moment(t.created_at, "ledger", f"{t.code} ({t.kind})")))
        for rail in self.rail:
            found.append((_AFTER, Moment(rail.submitted_at, "rail", "return received")))
            reason = f" {rail.reason_code}" if rail.reason_code else ""
            found.append((_AFTER, Moment(rail.settle_at, "rail", f"return {rail.outcome}{reason}")))
        found += [(8, m) for m in attempt_moments(self.deliveries)]
        return in_order(found)
