"""Cash-outs: the flow that accepts one, and reading them.

Acceptance is decided by the acceptance engine (``service.acceptance``), many requests per
commit. For a batch, this flow reads once which of its ``externalReference``s are taken,
and the balances and daily usage of its clients, locked (``FOR UPDATE`` in account-id
order on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already excludes every other writer).
It then decides each request in arrival order, against the balance the ones before it
left: refused (a duplicate reference, too little balance, the daily limit), or accepted
(pending transfers of amount and fee, the cash-out, its settlement job). A batch of
cash-outs (``service.batch``) is one request of this flow, whose items are decided in
its place, one by one, against the same state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from connectpsp.domain.cashout import (
    AcceptedCashOut,
    CashOut,
    CashOutCompleted,
    CashOutFailed,
    CashOutRequest,
)
from connectpsp.domain.cashout_acceptance import UNMARKED, Acceptance, CashOutBook, assess
from connectpsp.domain.cashout_batch import BatchResult, CashOutBatch
from connectpsp.domain.cashout_payloads import cash_out_event, movement_event
from connectpsp.domain.clients import Client
from connectpsp.domain.clock import business_date
from connectpsp.domain.errors import (
    ConnectPSPError,
    DuplicateExternalReference,
    FraudSuspected,
    InsufficientBalance,
    LedgerViolation,
    LimitExceeded,
    NotFound,
)
from connectpsp.domain.ids import ordered_id
from connectpsp.domain.ledger import Book, client_account_code
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.risk import (
    Decision,
    RiskHistory,
    Screening,
    Tally,
    looks_back,
)
from connectpsp.service.acceptance import AcceptanceEngine, Decided, Submission
from connectpsp.service.batch import decide_batch, expand
from connectpsp.service.ports import UnitOfWork, UnitOfWorkFactory
from connectpsp.service.publisher import Payloads, Publisher
from connectpsp.service.risk import Screener

__all__ = [
    "SETTLE_TOPIC",
    "CashOutFlow",
    "CashOutService",
    "register_payloads",
]

SETTLE_TOPIC = "settle_cash_out"


def register_payloads(publisher: Publisher, participants: ParticipantDirectory) -> None:
    """A settled or failed cash-out's webhooks: the tutorial's shape for its own
    ``webhookUrl``, the account movement (``CashOut``, DEBIT) for the endpoints."""

    def own(event: CashOutCompleted | CashOutFailed, at: datetime) -> dict[str, Any]:
        return cash_out_event(event.cash_out, at)

    def movement(event: CashOutCompleted | CashOutFailed, at: datetime) -> dict[str, Any]:
        return movement_event(event.cash_out, at, participants)

    for event in (CashOutCompleted, CashOutFailed):
        publisher.register(event, Payloads(own=own, movement=movement))


# What the flow is submitted: one cash-out request, or a batch of them.
Command = CashOutRequest | CashOutBatch


class CashOutFlow:
    """A cash-out request, or a batch of them (``service.batch``), as the acceptance engine
    decides it (``domain.cashout_acceptance.assess``)."""

    name = "cash_out"
    refusals: tuple[type[ConnectPSPError], ...] = (
        DuplicateExternalReference,
        FraudSuspected,
        InsufficientBalance,
        LimitExceeded,
    )
    secret = False

    def __init__(
        self,
        on_accepted: Callable[[], None],
        on_committed: Callable[[list[AcceptedCashOut]], None] = lambda _: None,
    ) -> None:
        # Tells an in-process worker there is work, so settlement need not wait a poll.
        self._on_accepted = on_accepted
        # Told every acceptance once committed (the business log and its counter).
        self._on_committed = on_committed
        # (client, payee) pairs read as paid: a payment is never unrecorded, so a batch
        # need not read them again (the writer's thread alone uses it).
        self._paid: set[tuple[str, str]] = set()

    def load(
        self, uow: UnitOfWork, submitted: Sequence[Submission[Command]], now: datetime
    ) -> _Batch:
        batch = expand(submitted)  # a batch's items, each as the request it is
        references = uow.cash_outs.references_taken(
            sorted({(s.client.id, s.command.external_reference) for s in batch})
        )
        # The cash-out holding a reference used again, for the 409 to name (rarely any).
        holders: dict[tuple[str, str], str] = {}
        for client_id, reference in sorted(references):
            holder = uow.cash_outs.by_external_reference(client_id, reference)
            if holder is not None:
                holders[(client_id, reference)] = holder.internal_code
        accounts = sorted({client_account_code(s.client.id) for s in batch})
        balances = uow.ledger.lock_balances(accounts) if accounts else {}
        missing = set(accounts) - set(balances)
        if missing:
            raise LedgerViolation(f"No balance account {sorted(missing)[0]!r}.")
        client_ids = sorted({s.client.id for s in batch})
        usage = uow.limits.lock_daily(client_ids, business_date(now)) if client_ids else {}
        # Read after the balances were locked: a concurrent batch's decisions for these
        # clients are all in, or none, so a per-minute count is exact.
        risk = _histories(uow, batch, now, self._paid)
        book = CashOutBook(Book(balances), references, dict(usage), risk)
        return _Batch(book, set(usage), holders)

    def decide(
        self, state: _Batch, submission: Submission[Command], now: datetime
    ) -> AcceptedCashOut | BatchResult:
        if isinstance(submission.command, CashOutBatch):
            return decide_batch(self._decide_one, self.refusals, state, submission, now)
        return self._decide_one(state, cast(Submission[CashOutRequest], submission), now)

    def _decide_one(
        self, state: _Batch, submission: Submission[CashOutRequest], now: datetime
    ) -> AcceptedCashOut:
        client, request = submission.client, submission.command
        screening = submission.context if isinstance(submission.context, Screening) else UNMARKED
        assessment = assess(state.book, client, request, now, screening)
        accepted = assessment.acceptance
        state.decisions.append(
            Decision(
                id=ordered_id(now),
                client_id=client.id,
                cash_out_id=accepted.cash_out.id if accepted else None,
                at=now,
                amount=request.amount,
                payee=request.payee.document,
                code=assessment.refusal.code if assessment.refusal else None,
                checks=assessment.checks,
                tally=assessment.tally,
            )
        )
        holder = state.holders.get((client.id, request.external_reference))
        if isinstance(assessment.refusal, DuplicateExternalReference) and holder:
            raise DuplicateExternalReference(
                f"A cash-out with this externalReference already exists: internalCode {holder}.",
                {"internalCode": holder},
            )
        if assessment.refusal is not None:
            raise assessment.refusal
        assert accepted is not None
        state.accepted.append(accepted)
        c = accepted.cash_out
        state.holders[(client.id, c.external_reference)] = c.internal_code
        return AcceptedCashOut(c.id, c.internal_code, c.external_reference, now, c.client_id)

    def write(self, uow: UnitOfWork, state: _Batch, now: datetime) -> None:
        uow.risk.record(state.decisions)
        accepted = [a.cash_out for a in state.accepted]
        uow.ledger.record([t for a in state.accepted for t in a.transfers])
        changed = {c.client_id: state.book.usage[c.client_id] for c in accepted}
        uow.limits.set_daily(business_date(now), changed, known=state.usage_found)
        uow.cash_outs.add(accepted)
        uow.outbox.enqueue(
            SETTLE_TOPIC, [(c.id, {"cashOutId": c.id}) for c in accepted], available_at=now
        )

    def record(self, result: AcceptedCashOut | BatchResult) -> dict[str, Any]:
        return result.as_record()

    def restore(self, record: dict[str, Any]) -> AcceptedCashOut | BatchResult:
        if "batch" in record:
            return BatchResult.from_record(record)
        return AcceptedCashOut.from_record(record)

    def committed(self, results: list[AcceptedCashOut | BatchResult]) -> None:
        accepted = [
            one
            for result in results
            for one in (result.accepted if isinstance(result, BatchResult) else [result])
        ]
        if accepted:
            self._on_accepted()
            self._on_committed(accepted)


@dataclass
class _Batch:
    book: CashOutBook
    usage_found: set[str]  # clients with a usage row today (updated, not inserted)
    holders: dict[tuple[str, str], str]  # (client, externalReference): its internalCode
    accepted: list[Acceptance] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)  # accepted and refused


def _histories(
    uow: UnitOfWork,
    batch: Sequence[Submission[CashOutRequest]],
    now: datetime,
    known: set[tuple[str, str]],
) -> dict[str, RiskHistory]:
    """What the clients' own rules look back at: each client's tally, and as it stood
    at each moment its rules look back to (a few index look-ups, however long its
    history); for a new-payee limit, which of the batch's payees it paid (read unless
    ``known``, the pairs read as paid before, which this adds to)."""
    clients = {s.client.id: s.client for s in batch}
    points = sorted(
        (client_id, moment)
        for client_id, client in clients.items()
        for moment in looks_back(client.risk, now)
    )
    tallies, before = uow.risk.tallies(sorted(clients), points)
    pairs = sorted(
        {
            (s.client.id, s.command.payee.document)
            for s in batch
            if s.client.risk.new_payee_limit is not None
        }
    )
    unknown = [pair for pair in pairs if pair not in known]
    found = uow.risk.paid(unknown) if unknown else set()
    paid = found | {pair for pair in pairs if pair in known}
    if len(known) > _KNOWN_PAID:
        known.clear()
    known |= found
    # Grouped by client in one pass each: a batch may hold a thousand clients.
    histories = {client_id: RiskHistory(tallies.get(client_id, Tally())) for client_id in clients}
    for (owner, moment), tally in before.items():
        histories[owner].stored_before[moment] = tally
    for owner, payee in paid:
        histories[owner].payees.add(payee)
    return histories


_KNOWN_PAID = 100_000  # pairs remembered as paid, at most: then forgotten and read again


class CashOutService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        engine: AcceptanceEngine,
        screener: Screener,
        on_accepted: Callable[[], None] | None = None,
        on_committed: Callable[[list[AcceptedCashOut]], None] | None = None,
    ) -> None:
        self._uow = uow
        self._engine = engine
        self._screener = screener
        self.flow = CashOutFlow(on_accepted or (lambda: None), on_committed or (lambda _: None))

    def screen(self, request: CashOutRequest) -> Screening:
        """What the fraud checks will know of the request's counterpart (DICT's security
        information); may wait on a look-up, so call it from a thread."""
        return self._screener.screen(request)

    def screened(self, request: CashOutRequest) -> Screening | None:
        """``screen``'s answer if it needs no look-up, else None."""
        return self._screener.remembered(request)

    def submit(
        self,
        client: Client,
        idempotency_key: str,
        request: CashOutRequest,
        screening: Screening | None = None,
    ) -> Future[Decided[AcceptedCashOut]]:
        """Queue the request for the acceptance engine; the future holds its committed
        answer: accepted, refused, or one of those replayed. ``screening`` is what
        ``screen`` found; without it, it is looked up here."""
        found = screening if screening is not None else self.screen(request)
        submitted = self._engine.submit(self.flow, client, idempotency_key, request, found)
        return cast(Future[Decided[AcceptedCashOut]], submitted)

    def create(
        self, client: Client, idempotency_key: str, request: CashOutRequest
    ) -> Decided[AcceptedCashOut]:
        """``submit``, waiting for the answer."""
        return self.submit(client, idempotency_key, request).result()

    def get(self, client: Client, internal_code: str) -> CashOut:
        with self._uow() as uow:
            found = uow.cash_outs.get(client.id, internal_code)
        if found is None:
            raise NotFound(f"No cash-out {internal_code}.")
        return found

    def find(self, client: Client, external_reference: str) -> CashOut:
        with self._uow() as uow:
            found = uow.cash_outs.by_external_reference(client.id, external_reference)
        if found is None:
            raise NotFound(f"No cash-out with externalReference {external_reference}.")
        return found
