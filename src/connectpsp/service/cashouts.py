"""Cash-outs: the flow that accepts one, and reading them.

Acceptance is decided by the acceptance engine (``service.acceptance``), many requests per
commit. For a batch, this flow reads once which of its ``externalReference``s are taken,
and the balances and daily usage of its clients, locked (``FOR UPDATE`` in account-id
order on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already excludes every other writer).
It then decides each request in arrival order, against the balance the ones before it
left: refused (a duplicate reference, too little balance, the daily limit), or accepted
(pending transfers of amount and fee, the cash-out, its settlement job).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import date, datetime
from typing import Any

from connectpsp.domain.cashout import (
    AcceptedCashOut,
    CashOut,
    CashOutCompleted,
    CashOutFailed,
    CashOutRequest,
    CashOutStatus,
)
from connectpsp.domain.cashout_payloads import cash_out_event, movement_event
from connectpsp.domain.clients import Client
from connectpsp.domain.clock import business_date
from connectpsp.domain.errors import (
    ConnectPSPError,
    DuplicateExternalReference,
    InsufficientBalance,
    LedgerViolation,
    LimitExceeded,
    NotFound,
)
from connectpsp.domain.ids import derived_id, new_id, new_internal_code
from connectpsp.domain.ledger import PSP_FEES, PSP_SETTLEMENT, client_account_code
from connectpsp.domain.money import Centavos
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.service.acceptance import AcceptanceEngine, Decided, Submission
from connectpsp.service.ports import Reservation, UnitOfWork, UnitOfWorkFactory
from connectpsp.service.publisher import Payloads, Publisher

__all__ = [
    "SETTLE_TOPIC",
    "CashOutFlow",
    "CashOutService",
    "fee_transfer_id",
    "register_payloads",
]

SETTLE_TOPIC = "settle_cash_out"


def fee_transfer_id(cash_out_id: str) -> str:
    return derived_id(cash_out_id, "fee")


def register_payloads(publisher: Publisher, participants: ParticipantDirectory) -> None:
    """A settled or failed cash-out's webhooks: the tutorial's shape for its own
    ``webhookUrl``, the account movement (``CashOut``, DEBIT) for the endpoints."""

    def own(event: CashOutCompleted | CashOutFailed, at: datetime) -> dict[str, Any]:
        return cash_out_event(event.cash_out, at)

    def movement(event: CashOutCompleted | CashOutFailed, at: datetime) -> dict[str, Any]:
        return movement_event(event.cash_out, at, participants)

    for event in (CashOutCompleted, CashOutFailed):
        publisher.register(event, Payloads(own=own, movement=movement))


class CashOutFlow:
    """A cash-out request, as the acceptance engine decides it."""

    name = "cash_out"
    refusals: tuple[type[ConnectPSPError], ...] = (
        DuplicateExternalReference,
        InsufficientBalance,
        LimitExceeded,
    )
    secret = False

    def __init__(self, on_accepted: Callable[[], None]) -> None:
        # Tells an in-process worker there is work, so settlement need not wait a poll.
        self._on_accepted = on_accepted

    def load(
        self, uow: UnitOfWork, batch: Sequence[Submission[CashOutRequest]], now: datetime
    ) -> _BatchState:
        return _BatchState.load(uow, batch, business_date(now))

    def decide(
        self, state: _BatchState, submission: Submission[CashOutRequest], now: datetime
    ) -> AcceptedCashOut:
        cash_out = state.accept(submission.client, submission.command, now)
        return AcceptedCashOut(
            cash_out.id, cash_out.internal_code, cash_out.external_reference, now
        )

    def write(self, uow: UnitOfWork, state: _BatchState, now: datetime) -> None:
        uow.ledger.reserve(state.reservations)
        uow.limits.set_daily(business_date(now), state.changed_usage(), known=state.usage_found)
        uow.cash_outs.add(state.accepted)
        uow.outbox.enqueue(
            SETTLE_TOPIC, [(c.id, {"cashOutId": c.id}) for c in state.accepted], available_at=now
        )

    def record(self, result: AcceptedCashOut) -> dict[str, Any]:
        return result.as_record()

    def restore(self, record: dict[str, Any]) -> AcceptedCashOut:
        return AcceptedCashOut.from_record(record)

    def committed(self, results: list[AcceptedCashOut]) -> None:
        self._on_accepted()


class CashOutService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        engine: AcceptanceEngine,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        self._uow = uow
        self._engine = engine
        self.flow = CashOutFlow(on_accepted or (lambda: None))

    def submit(
        self, client: Client, idempotency_key: str, request: CashOutRequest
    ) -> Future[Decided[AcceptedCashOut]]:
        """Queue the request for the acceptance engine; the future holds its committed
        answer: accepted, refused, or one of those replayed."""
        return self._engine.submit(self.flow, client, idempotency_key, request)

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


class _BatchState:
    """What a batch reads once and then changes in memory, request by request."""

    def __init__(
        self,
        references: set[tuple[str, str]],
        available: dict[str, Centavos],
        usage: dict[str, Centavos],
    ) -> None:
        self._references = references
        self._available = available
        self._usage = dict(usage)
        self.usage_found = set(usage)
        self._usage_changed: set[str] = set()
        self.reservations: list[Reservation] = []
        self.accepted: list[CashOut] = []

    @classmethod
    def load(
        cls, uow: UnitOfWork, fresh: Sequence[Submission[CashOutRequest]], day: date
    ) -> _BatchState:
        references = uow.cash_outs.references_taken(
            sorted({(r.client.id, r.command.external_reference) for r in fresh})
        )
        accounts = sorted({client_account_code(r.client.id) for r in fresh})
        balances = uow.ledger.lock_balances(accounts) if accounts else {}
        missing = set(accounts) - set(balances)
        if missing:
            raise LedgerViolation(f"No balance account {sorted(missing)[0]!r}.")
        client_ids = sorted({r.client.id for r in fresh})
        usage = uow.limits.lock_daily(client_ids, day) if client_ids else {}
        available = {code: balance.available for code, balance in balances.items()}
        return cls(references, available, usage)

    def accept(self, client: Client, body: CashOutRequest, now: datetime) -> CashOut:
        """The cash-out, reserved, or the refusal raised; in the order a lone request
        would meet them."""
        reference = (client.id, body.external_reference)
        if reference in self._references:
            raise DuplicateExternalReference()
        fee = client.fee_plan.fee_for(body.amount)
        account = client_account_code(client.id)
        if self._available[account] < body.amount + fee:
            raise InsufficientBalance()
        used = self._usage.get(client.id, 0)
        if used + body.amount > client.daily_limit:
            raise LimitExceeded()
        cash_out = CashOut(
            id=new_id(),
            internal_code=new_internal_code(),
            client_id=client.id,
            external_reference=body.external_reference,
            amount=body.amount,
            fee=fee,
            description=body.description,
            webhook_url=body.webhook_url,
            payee=body.payee,
            status=CashOutStatus.PROCESSING,
            requested_at=now,
        )
        self._references.add(reference)
        self._available[account] -= body.amount + fee
        self._usage[client.id] = used + body.amount
        self._usage_changed.add(client.id)
        # The amount's pending transfer shares the cash-out's id, so settlement finds it.
        held = [(cash_out.id, PSP_SETTLEMENT, body.amount, "cash_out")]
        if fee:
            held.append((fee_transfer_id(cash_out.id), PSP_FEES, fee, "cash_out_fee"))
        self.reservations += [
            Reservation(transfer_id, account, credit, amount, code, cash_out.id)
            for transfer_id, credit, amount, code in held
        ]
        self.accepted.append(cash_out)
        return cash_out

    def changed_usage(self) -> dict[str, Centavos]:
        return {client: self._usage[client] for client in self._usage_changed}
