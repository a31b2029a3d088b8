"""Bulk payouts: a batch of cash-outs decided as one request of the cash-out flow.

A batch goes to the acceptance engine as one submission of ``CashOutFlow`` (the same
flow, so the same state, as the single cash-outs decided in the same transaction: one
balance, one set of references taken, one daily usage per client). The flow loads what
its items need with everybody else's, in bulk, then decides the batch's items one after
the other, in request order, each exactly as a single cash-out: refused (stored as its
error) or accepted (its transfers, its cash-out and its settlement job written with the
others, in the same commit). The batch's answer, every item's outcome, is stored against
its one key and replayed as it was.

An item refused before it reaches the engine (a bad field, a BR Code that cannot be
paid) is decided there too, as its refusal, so that it is stored and replayed with the
rest; it moves nothing, and is no attempt for the fraud checks (as a 400 is not).

An error that is no item's outcome (a ledger rule broken, say) fails the whole batch: it
is raised as ``BatchFailed`` out of ``decide``, so the engine rolls the transaction back
and decides the batch alone, where it fails alone, nothing stored; ``submit``'s future
then holds the original error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from connectpsp.domain.cashout import AcceptedCashOut, CashOutRequest
from connectpsp.domain.cashout_batch import BatchResult, CashOutBatch, ItemRefused
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import ConnectPSPError
from connectpsp.domain.risk import Screening
from connectpsp.service.acceptance import AcceptanceEngine, Decided, Submission

if TYPE_CHECKING:
    from connectpsp.service.cashouts import CashOutService

__all__ = [
    "BatchContext",
    "BatchFailed",
    "CashOutBatches",
    "decide_batch",
    "expand",
]

S = TypeVar("S")


class BatchFailed(Exception):
    """An item met an error that is no item's outcome; ``error`` is that error. Not a
    ``ConnectPSPError``, so the engine rolls the batch back rather than store it."""

    def __init__(self, error: ConnectPSPError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class BatchContext:
    """What was made of each item before the batch was queued (out of its fingerprint):
    the request, or the refusal it met; and, for a request, what the screener found."""

    items: tuple[CashOutRequest | ItemRefused, ...]
    screenings: tuple[Screening | None, ...]


def _context(submission: Submission[Any]) -> BatchContext:
    context = submission.context
    assert isinstance(context, BatchContext), "a batch is submitted with its BatchContext"
    return context


def expand(
    batch: Sequence[Submission[CashOutRequest | CashOutBatch]],
) -> list[Submission[CashOutRequest]]:
    """Every request the flow decides, a batch's items in its place (the items refused
    before the engine are not requests): what ``CashOutFlow.load`` reads for."""
    found: list[Submission[CashOutRequest]] = []
    for submission in batch:
        command = submission.command
        if isinstance(command, CashOutRequest):
            found.append(submission)  # type: ignore[arg-type]
            continue
        context = _context(submission)
        found += [
            Submission(submission.client, None, item, screening)
            for item, screening in zip(context.items, context.screenings, strict=True)
            if isinstance(item, CashOutRequest)
        ]
    return found


def decide_batch(
    decide_one: Callable[[S, Submission[CashOutRequest], datetime], AcceptedCashOut],
    refusals: tuple[type[ConnectPSPError], ...],
    state: S,
    submission: Submission[Any],
    now: datetime,
) -> BatchResult:
    """Each item in order, as ``decide_one`` decides a single request against ``state``
    (which it changes only when it accepts)."""
    context = _context(submission)
    results: list[AcceptedCashOut | ItemRefused] = []
    for item, screening in zip(context.items, context.screenings, strict=True):
        if isinstance(item, ItemRefused):
            results.append(item)
            continue
        try:
            one = Submission(submission.client, None, item, screening)
            results.append(decide_one(state, one, now))
        except refusals as refusal:
            results.append(ItemRefused.of(refusal))
        except ConnectPSPError as error:
            raise BatchFailed(error) from error
    return BatchResult(tuple(results))


class CashOutBatches:
    """Submitting a batch to the engine, through the cash-out flow of ``cash_outs``."""

    def __init__(self, engine: AcceptanceEngine, cash_outs: CashOutService) -> None:
        self._engine = engine
        self._cash_outs = cash_outs

    def screen(self, items: Sequence[CashOutRequest | ItemRefused]) -> list[Screening | None]:
        """What the fraud checks will know of each request's counterpart (None for a
        refused item): from memory when it can, else looked up. May wait on look-ups,
        so call it from a thread."""
        found: list[Screening | None] = []
        for item in items:
            if isinstance(item, ItemRefused):
                found.append(None)
                continue
            screening = self._cash_outs.screened(item)
            found.append(screening if screening is not None else self._cash_outs.screen(item))
        return found

    def submit(
        self,
        client: Client,
        idempotency_key: str,
        batch: CashOutBatch,
        context: BatchContext,
    ) -> Future[Decided[BatchResult]]:
        """Queue the batch; the future holds its committed answer (every item's outcome,
        or those replayed), or the error that kept it from being decided."""
        if len(batch.items) != len(context.items) or len(context.items) != len(context.screenings):
            raise ValueError("a batch's context must have one entry per item")
        submitted = self._engine.submit(
            self._cash_outs.flow, client, idempotency_key, batch, context, len(batch.items)
        )
        answer: Future[Decided[BatchResult]] = Future()

        def unwrap(done: Future[Decided[AcceptedCashOut | BatchResult]]) -> None:
            error = done.exception()
            if isinstance(error, BatchFailed):
                answer.set_exception(error.error)
            elif error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(cast(Decided[BatchResult], done.result()))

        submitted.add_done_callback(unwrap)
        return answer

    def create(
        self, client: Client, idempotency_key: str, batch: CashOutBatch, context: BatchContext
    ) -> Decided[BatchResult]:
        """``submit``, waiting for the answer."""
        return self.submit(client, idempotency_key, batch, context).result()
