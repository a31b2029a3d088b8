"""The operator's search over every client's cash-outs, and one cash-out's timeline: what
the ledger, the rail, the webhooks and the returns recorded of it (docs/console.md)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime

from connectpsp.domain.cashout import CashOut, CashOutStatus
from connectpsp.domain.money import Centavos
from connectpsp.domain.returns import CashOutReturn
from connectpsp.domain.risk import Decision
from connectpsp.domain.search_form import SearchForm
from connectpsp.domain.webhooks import DeliveryView

__all__ = [
    "CashOutQuery",
    "CashOutTimeline",
    "LedgerLine",
    "Moment",
    "RailRecord",
    "attempt_moments",
    "in_order",
    "parse_query",
]


@dataclass(frozen=True)
class CashOutQuery:
    """Each given field must match exactly; ``start`` inclusive, ``end`` exclusive."""

    internal_code: str | None = None
    external_reference: str | None = None
    end_to_end_id: str | None = None
    payee_document: str | None = None
    status: CashOutStatus | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def parse_query(form: dict[str, str]) -> CashOutQuery:
    """The search form's fields (blank ones ignored). Days are São Paulo's: ``to`` is
    the last day searched, whole."""
    f = SearchForm(form)
    query = CashOutQuery(
        internal_code=f.ident("internalCode"),
        external_reference=f.ident("externalReference"),
        end_to_end_id=f.ident("endToEndId"),
        payee_document=f.document("payeeDocument"),
        status=f.choice("status", CashOutStatus),
    )
    start, end = f.days()
    f.check()
    return replace(query, start=start, end=end)


@dataclass(frozen=True)
class LedgerLine:
    """A transfer of the cash-out's (``transfers.ref`` is its id): accounts by code."""

    id: str
    code: str  # cash_out, cash_out_fee, cash_out_return
    kind: str  # single, pending, post_pending, void_pending
    amount: Centavos
    debit: str
    credit: str
    created_at: datetime


@dataclass(frozen=True)
class RailRecord:
    """What the simulated SPI keeps of the payment (sandbox only)."""

    end_to_end_id: str
    amount: Centavos
    creditor_ispb: str
    outcome: str  # SETTLED or REJECTED
    reason_code: str | None
    submit_count: int
    submitted_at: datetime
    settle_at: datetime


@dataclass(frozen=True)
class Moment:
    """One line of the timeline."""

    at: datetime
    source: str  # cash-out, ledger, rail, webhook, return
    what: str


@dataclass(frozen=True)
class CashOutTimeline:
    cash_out: CashOut
    client_name: str
    transfers: list[LedgerLine]
    rail: list[RailRecord]
    deliveries: list[DeliveryView]
    returns: list[CashOutReturn]
    decision: Decision | None = None  # the fraud checks' (None: accepted before 0011)

    def moments(self) -> list[Moment]:
        """Everything recorded, oldest first (``in_order``)."""
        c = self.cash_out
        found: list[tuple[int, Moment]] = [(0, Moment(c.requested_at, "cash-out", "requested"))]
        if c.submitted_at is not None:
            found.append((2, Moment(c.submitted_at, "cash-out", "sent to the rail")))
        if c.paid_at is not None:
            found.append((5, Moment(c.paid_at, "cash-out", f"paid: {c.end_to_end_id}")))
        for t in self.transfers:
            rank = 1 if t.kind in ("pending", "single") and t.code != "cash_out_return" else 6
            found.append((rank, Moment(t.created_at, "ledger", f"{t.code} ({t.kind})")))
        for r in self.rail:
            found.append((3, Moment(r.submitted_at, "rail", f"received ({r.submit_count}x)")))
            reason = f" {r.reason_code}" if r.reason_code else ""
            found.append((4, Moment(r.settle_at, "rail", f"{r.outcome}{reason}")))
        for back in self.returns:
            found.append((7, Moment(back.returned_at, "return", f"{back.return_id} {back.reason}")))
        found += [(8, m) for m in attempt_moments(self.deliveries)]
        return in_order(found)


def attempt_moments(deliveries: list[DeliveryView]) -> list[Moment]:
    """Every attempt at delivering a webhook, with the answer it got."""
    found = []
    for d in deliveries:
        for a in d.attempts:
            said = str(a.status_code) if a.status_code is not None else "no answer"
            found.append(Moment(a.attempted_at, "webhook", f"{d.event_type}: {said}"))
    return found


def in_order(found: list[tuple[int, Moment]]) -> list[Moment]:
    """Oldest first; within one second (as shown, and as SQLite keeps times), by rank
    (the order a life goes), then by time, then as given."""
    found = sorted(found, key=lambda r: (r[1].at.replace(microsecond=0), r[0], r[1].at))
    return [moment for _, moment in found]
