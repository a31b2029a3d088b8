"""Creating and reading cash-outs.

Acceptance is a group commit. Requests queue for one writer thread, which takes every
request waiting and decides them all in one transaction:
- the idempotency keys, the references and the balances of the batch are read once,
  the balances and daily usage locked (``FOR UPDATE`` on PostgreSQL; SQLite's
  ``BEGIN IMMEDIATE`` already excludes every other writer);
- each request is then decided in arrival order, against the balance the ones before
  it left: a replay, a refusal, or an acceptance (pending transfers of amount and fee,
  the cash-out, its settlement job);
- every write of the batch and every answer, stored against its key, is committed
  together, and only then is any request answered.

So one commit (one fsync) serves a whole batch, while each request still gets the
exact balance check and answer it would have had alone. A process that dies before the
commit has answered nobody and written nothing: every retry starts afresh.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from connectpsp.domain.cashout import CashOut, CashOutRequest, CashOutStatus
from connectpsp.domain.clients import Client
from connectpsp.domain.clock import Clock, business_date
from connectpsp.domain.errors import (
    ConnectPSPError,
    DuplicateExternalReference,
    IdempotencyKeyInUse,
    IdempotencyKeyMismatch,
    InsufficientBalance,
    LedgerViolation,
    LimitExceeded,
    NotFound,
    StorageConflict,
    StorageUnavailable,
)
from connectpsp.domain.ids import derived_id, new_id, new_internal_code
from connectpsp.domain.ledger import PSP_FEES, PSP_SETTLEMENT, client_account_code
from connectpsp.domain.money import Centavos
from connectpsp.service.ports import Reservation, StoredReply, UnitOfWork, UnitOfWorkFactory

__all__ = ["SETTLE_TOPIC", "CashOutService", "Renderer", "Reply", "fee_transfer_id"]

SETTLE_TOPIC = "settle_cash_out"
# Enough to amortise a commit; small enough that a batch's transaction stays short.
MAX_BATCH = 256
# A batch that meets a concurrent writer (another process took a key or a reference
# first, or a deadlock) runs again this often before its requests are run one by one.
_ATTEMPTS = 3


@dataclass(frozen=True)
class Reply:
    """The response to send: stored byte for byte for idempotent replays."""

    status: int
    body: bytes
    replayed: bool = False


# The API renders outcomes to (HTTP status, body); the service stores what it renders.
Renderer = Callable[[CashOut | ConnectPSPError], tuple[int, bytes]]
Outcome = Reply | BaseException


def fee_transfer_id(cash_out_id: str) -> str:
    return derived_id(cash_out_id, "fee")


@dataclass(frozen=True)
class _Request:
    client: Client
    key: str
    fingerprint: str
    body: CashOutRequest
    render: Renderer
    answer: Future[Reply]

    @property
    def slot(self) -> tuple[str, str]:
        return (self.client.id, self.key)


class CashOutService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        clock: Clock,
        on_accepted: Callable[[], None] | None = None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._uow = uow
        self._clock = clock
        # Tells an in-process worker there is work, so settlement need not wait a poll.
        self._on_accepted = on_accepted or (lambda: None)
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        # Keys queued or being decided in this process: a second request with one of
        # them is told it is in flight rather than queued behind the first.
        self._in_flight: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._closed = False

    def create(
        self, client: Client, idempotency_key: str, request: CashOutRequest, render: Renderer
    ) -> Reply:
        """Accept, refuse or replay; blocks until the answer is committed."""
        return self.submit(client, idempotency_key, request, render).result()

    def submit(
        self, client: Client, idempotency_key: str, request: CashOutRequest, render: Renderer
    ) -> Future[Reply]:
        """Queue the request for the writer; the future holds its committed answer."""
        answer: Future[Reply] = Future()
        fingerprint = hashlib.sha256(request.fingerprint().encode()).hexdigest()
        pending = _Request(client, idempotency_key, fingerprint, request, render, answer)
        with self._lock:
            if self._closed:
                raise StorageUnavailable("The server is shutting down; retry.")
            if pending.slot in self._in_flight:
                answer.set_exception(IdempotencyKeyInUse())
                return answer
            self._in_flight.add(pending.slot)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write, name="cash-out-writer", daemon=True
                )
                self._writer.start()
        self._queue.put(pending)
        return answer

    def close(self, timeout: float = 30.0) -> None:
        """Decide what is queued, then stop the writer."""
        with self._lock:
            self._closed = True
            writer = self._writer
        if writer is not None:
            self._queue.put(None)
            writer.join(timeout)

    def _write(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            try:
                outcomes = self._run(batch)
            except BaseException as error:  # never leave a request waiting for ever
                outcomes = [error] * len(batch)
            self._answer(batch, outcomes)

    def _answer(self, batch: list[_Request], outcomes: list[Outcome]) -> None:
        with self._lock:
            for request in batch:
                self._in_flight.discard(request.slot)
        accepted = False
        for request, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                request.answer.set_exception(outcome)
            else:
                accepted |= outcome.status == 202 and not outcome.replayed
                request.answer.set_result(outcome)
        if accepted:
            self._on_accepted()

    def _run(self, batch: list[_Request]) -> list[Outcome]:
        """Every request's outcome, committed; a request that cannot be decided with the
        others (an unexpected error) is decided alone, so it fails alone."""
        for _ in range(_ATTEMPTS):
            try:
                with self._uow(write=True) as uow:
                    outcomes = self._decide(uow, batch)
                    uow.commit()
                return outcomes
            except StorageConflict:
                continue  # run again: the other writer's rows are visible now
            except StorageUnavailable as error:
                return [error] * len(batch)
            except Exception as error:
                if len(batch) == 1:
                    return [error]
                break
        if len(batch) == 1:
            return [StorageConflict()]
        return [outcome for request in batch for outcome in self._run([request])]

    def _decide(self, uow: UnitOfWork, batch: list[_Request]) -> list[Outcome]:
        now = self._clock.now()
        day = business_date(now)
        state = _BatchState.load(uow, batch, day)
        outcomes: list[Outcome] = []
        accepted: list[CashOut] = []
        stored: list[StoredReply] = []
        for request in batch:
            previous = state.replies.get(request.slot)
            if previous is not None:
                outcomes.append(_replay(previous, request))
                continue
            try:
                cash_out = state.accept(request, now, day)
            except (DuplicateExternalReference, InsufficientBalance, LimitExceeded) as refusal:
                # Stored like an acceptance (as Stripe does): a retry gets the same answer.
                status, body = request.render(refusal)
            else:
                accepted.append(cash_out)
                status, body = request.render(cash_out)
            client_id, key = request.slot
            stored.append(StoredReply(client_id, key, request.fingerprint, status, body))
            outcomes.append(Reply(status, body))
        uow.ledger.reserve(state.reservations)
        uow.limits.set_daily(day, state.changed_usage(), known=state.usage_found)
        uow.cash_outs.add(accepted)
        uow.outbox.enqueue(
            SETTLE_TOPIC, [(c.id, {"cashOutId": c.id}) for c in accepted], available_at=now
        )
        uow.idempotency.store(stored, at=now)
        return outcomes

    def forget_old_keys(self, retention: timedelta) -> int:
        """Drop the stored answers older than ``retention``: a key is then free again."""
        with self._uow(write=True) as uow:
            forgotten = uow.idempotency.forget_before(self._clock.now() - retention)
            uow.commit()
        return forgotten

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


def _replay(previous: StoredReply, request: _Request) -> Outcome:
    if previous.fingerprint != request.fingerprint:
        return IdempotencyKeyMismatch()
    return Reply(previous.status, previous.body, replayed=True)


class _BatchState:
    """What a batch reads once and then changes in memory, request by request."""

    def __init__(
        self,
        replies: dict[tuple[str, str], StoredReply],
        references: set[tuple[str, str]],
        available: dict[str, Centavos],
        usage: dict[str, Centavos],
    ) -> None:
        self.replies = replies
        self._references = references
        self._available = available
        self._usage = dict(usage)
        self.usage_found = set(usage)
        self._usage_changed: set[str] = set()
        self.reservations: list[Reservation] = []

    @classmethod
    def load(cls, uow: UnitOfWork, batch: list[_Request], day: date) -> _BatchState:
        replies = uow.idempotency.find(sorted({r.slot for r in batch}))
        fresh = [r for r in batch if r.slot not in replies]
        references = uow.cash_outs.references_taken(
            sorted({(r.client.id, r.body.external_reference) for r in fresh})
        )
        accounts = sorted({client_account_code(r.client.id) for r in fresh})
        balances = uow.ledger.lock_balances(accounts) if accounts else {}
        missing = set(accounts) - set(balances)
        if missing:
            raise LedgerViolation(f"No balance account {sorted(missing)[0]!r}.")
        client_ids = sorted({r.client.id for r in fresh})
        usage = uow.limits.lock_daily(client_ids, day) if client_ids else {}
        available = {code: balance.available for code, balance in balances.items()}
        return cls(replies, references, available, usage)

    def accept(self, request: _Request, now: datetime, day: date) -> CashOut:
        """The cash-out, reserved, or the refusal raised; in the order a lone request
        would meet them."""
        client, body = request.client, request.body
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
        return cash_out

    def changed_usage(self) -> dict[str, Centavos]:
        return {client: self._usage[client] for client in self._usage_changed}
