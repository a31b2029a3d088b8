"""The operator's search over every client's cash-outs, and one cash-out's timeline: what
the ledger, the rail, the webhooks and the returns recorded of it (docs/console.md)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta

from connectpsp.domain.cashout import CashOut, CashOutStatus
from connectpsp.domain.clock import SAO_PAULO
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.money import Centavos
from connectpsp.domain.returns import CashOutReturn
from connectpsp.domain.webhooks import DeliveryView

__all__ = [
    "CashOutQuery",
    "CashOutTimeline",
    "LedgerLine",
    "Moment",
    "RailRecord",
    "parse_query",
]

_ID_MAX = 64  # longer than any internalCode, externalReference or endToEndId


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


def _day(name: str, text: str, errors: list[FieldError]) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.append(FieldError(name, "a day, as YYYY-MM-DD"))
        return None


def parse_query(form: dict[str, str]) -> CashOutQuery:
    """The search form's fields (blank ones ignored). Days are São Paulo's: ``to`` is
    the last day searched, whole."""
    given = {k: v.strip() for k, v in form.items() if v.strip()}
    errors: list[FieldError] = []
    for name in ("internalCode", "externalReference", "endToEndId"):
        value = given.get(name)
        if value is not None and (len(value) > _ID_MAX or not value.isprintable()):
            errors.append(FieldError(name, f"at most {_ID_MAX} printable characters"))
    document = given.get("payeeDocument")
    if document is not None:
        document = "".join(c for c in document if c not in ".-/ ").upper()
        cpf = len(document) == 11 and document.isdigit()
        cnpj = len(document) == 14 and document.isalnum()  # alphanumeric CNPJs too
        if not document.isascii() or not (cpf or cnpj):
            errors.append(FieldError("payeeDocument", "a CPF (11 digits) or a CNPJ (14)"))
    status = given.get("status")
    if status is not None and status not in CashOutStatus.__members__:
        errors.append(FieldError("status", "PROCESSING, COMPLETED or FAILED"))
    start = _day("from", given["from"], errors) if "from" in given else None
    last = _day("to", given["to"], errors) if "to" in given else None
    if start and last and last < start:
        errors.append(FieldError("to", "on or after from"))
    if errors:
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise ValidationFailed(errors, f"Invalid search: {detail}.")
    return CashOutQuery(
        internal_code=given.get("internalCode"),
        external_reference=given.get("externalReference"),
        end_to_end_id=given.get("endToEndId"),
        payee_document=document,
        status=CashOutStatus(status) if status else None,
        start=datetime.combine(start, time(), SAO_PAULO) if start else None,
        end=datetime.combine(last + timedelta(days=1), time(), SAO_PAULO) if last else None,
    )


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

    def moments(self) -> list[Moment]:
        """Everything recorded, oldest first; within one second (as shown, and as
        SQLite keeps times), in the order a cash-out's life goes."""
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
        for d in self.deliveries:
            for a in d.attempts:
                said = str(a.status_code) if a.status_code is not None else "no answer"
                found.append((8, Moment(a.attempted_at, "webhook", f"{d.event_type}: {said}")))
        found.sort(key=lambda ranked: (ranked[1].at.replace(microsecond=0), ranked[0]))
        return [moment for _, moment in found]
