"""Refunds of received Pix: accepting them (``refund_flow``, through the acceptance
engine), reading them, and the worker's step that sends them to SPI as returns and
settles their reservations with the answer.

Sending is idempotent by a key derived from the refund's id, so a worker that dies after
SPI took a return, or a lost answer, only makes the next run ask again. The refund's end,
its ledger step (post or void) and its events are one transaction; a second worker that
gets there finds the refund ended and writes nothing but the end of its job.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any

from connectpsp.domain.clients import Client
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import LedgerViolation, NotFound, StorageConflict
from connectpsp.domain.ids import derived_id, new_id
from connectpsp.domain.ledger import post, void
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.refund_payloads import refund_event, refund_movement_event
from connectpsp.domain.refunds import (
    Refund,
    RefundCompleted,
    RefundFailed,
    RefundRequest,
    RefundStatus,
)
from connectpsp.service.acceptance import AcceptanceEngine, Decided
from connectpsp.service.ports import Job, UnitOfWorkFactory
from connectpsp.service.publisher import Payloads, Publisher
from connectpsp.service.rail import (
    Payer,
    RailState,
    RailStatus,
    RailUnavailable,
    ReturnOrder,
    ReturnRail,
)
from connectpsp.service.refund_flow import REFUND_TOPIC, RefundFlow

__all__ = ["RefundSender", "Refunds", "register_payloads"]

_ATTEMPTS = 3  # runs of a transaction that lost a race, before giving up
_MAX_BACKOFF = timedelta(minutes=5)


def register_payloads(publisher: Publisher, participants: ParticipantDirectory) -> None:
    """A refund's webhooks: the tutorial's shape for its charge's ``webhookUrl``, the
    account movement (``CashInRefund``, DEBIT) for the endpoints."""

    def own(event: RefundCompleted | RefundFailed, at: datetime) -> dict[str, Any]:
        return refund_event(event.refund, at)

    def movement(event: RefundCompleted | RefundFailed, at: datetime) -> dict[str, Any]:
        return refund_movement_event(event.refund, at, participants)

    for event in (RefundCompleted, RefundFailed):
        publisher.register(event, Payloads(own=own, movement=movement))


class Refunds:
    """What the API asks of refunds."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        engine: AcceptanceEngine,
        ispb: str,
        on_accepted: Callable[[], None] = lambda: None,
    ) -> None:
        self._uow = uow
        self._engine = engine
        self.flow = RefundFlow(ispb=ispb, on_accepted=on_accepted)

    def submit(
        self, client: Client, idempotency_key: str, request: RefundRequest
    ) -> Future[Decided[Refund]]:
        return self._engine.submit(self.flow, client, idempotency_key, request)

    def create(
        self, client: Client, idempotency_key: str, request: RefundRequest
    ) -> Decided[Refund]:
        return self.submit(client, idempotency_key, request).result()

    def get(self, client: Client, internal_code: str | None, refund_id: str) -> Refund:
        """The client's refund; of charge ``internal_code``, unless that is None."""
        with self._uow() as uow:
            refund = uow.refunds.get(client.id, refund_id)
        if refund is None or internal_code not in (None, refund.internal_code):
            where = f" of charge {internal_code}" if internal_code else ""
            raise NotFound(f"No refund {refund_id}{where}.")
        return refund

    def of_payments(self, end_to_end_ids: list[str]) -> dict[str, list[Refund]]:
        with self._uow() as uow:
            return uow.refunds.of_payments(end_to_end_ids)


class RefundSender:
    """The worker's step: send accepted refunds to SPI, and end them by its answer."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        rail: ReturnRail,
        clock: Clock,
        ispb: str,
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self._uow = uow
        self._rail = rail
        self._clock = clock
        self._ispb = ispb
        self._lease = lease

    def send_due(self, limit: int = 32) -> int:
        """Claim due refund jobs and run each; the number claimed."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            jobs = uow.outbox.claim(
                REFUND_TOPIC, now=now, lease_until=now + self._lease, limit=limit
            )
            uow.commit()
        for job in jobs:
            self._send(job)
        return len(jobs)

    def _send(self, job: Job) -> None:
        with self._uow() as uow:
            refund = uow.refunds.by_id(job.ref)
        if refund is None or refund.status is not RefundStatus.PROCESSING:
            self._settle(job, None, None)
            return
        try:
            answer = self._rail.send_return(self._order(refund))
        except RailUnavailable:
            answer = RailStatus(RailState.UNKNOWN)
        now = self._clock.now()
        if answer.state is RailState.SETTLED:
            self._settle(job, refund, refund.complete(now))
        elif answer.state is RailState.REJECTED:
            self._settle(job, refund, refund.fail(answer.reason, now))
        elif answer.state is RailState.PENDING and answer.check_again_at is not None:
            self._defer(job, answer.check_again_at, failed=False)
        else:  # no answer: ask again (the key makes it the same return)
            self._defer(job, now + _backoff(job.failures + 1), failed=True)

    def _order(self, refund: Refund) -> ReturnOrder:
        payer = refund.payer
        return ReturnOrder(
            idempotency_key=derived_id(refund.id, "rail"),
            return_id=refund.return_id,
            end_to_end_id=refund.end_to_end_id,
            amount=refund.amount,
            reason=refund.reason.spi_code,
            returner_ispb=self._ispb,
            payer=Payer(payer.name, payer.document, payer.ispb),
        )

    def _settle(self, job: Job, refund: Refund | None, ended: Refund | None) -> None:
        """End ``refund`` as ``ended`` says (post or void its reservation, its events),
        and its job; only the job when there is nothing (left) to end."""
        for attempt in range(_ATTEMPTS):
            try:
                self._settle_once(job, refund, ended)
                return
            except StorageConflict:
                if attempt == _ATTEMPTS - 1:
                    raise

    def _settle_once(self, job: Job, refund: Refund | None, ended: Refund | None) -> None:
        now = self._clock.now()
        with self._uow(write=True) as uow:
            if refund is not None and ended is not None and uow.refunds.finish(ended):
                held = uow.ledger.pending([refund.id]).get(refund.id)
                if held is None:
                    raise LedgerViolation(f"No pending transfer {refund.id}.")
                completed = ended.status is RefundStatus.COMPLETED
                uow.ledger.record([(post if completed else void)(held, new_id())])
                uow.emit(RefundCompleted(now, ended) if completed else RefundFailed(now, ended))
            uow.outbox.finish(job.id, at=now)
            uow.commit()

    def _defer(self, job: Job, until: datetime, *, failed: bool) -> None:
        with self._uow(write=True) as uow:
            uow.outbox.defer(job.id, until=until, failed=failed)
            uow.commit()


def _backoff(failures: int) -> timedelta:
    """1 s, 2 s, 4 s ... after the 1st, 2nd, 3rd failure in a row; capped."""
    return min(timedelta(seconds=2 ** min(max(failures - 1, 0), 9)), _MAX_BACKOFF)
