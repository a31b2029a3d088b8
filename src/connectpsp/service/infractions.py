"""MED (``domain.infractions``): fraud reports against Pix our clients received, the funds
they block, and the operator's decision, or the default one at the deadline.

Every step is one transaction that locks the client's balance first (the order every
writer locks in): the report with its block and its deadline job; an acceptance with the
block's end and the refund it makes (reserved at once, sent by the refund worker); a
rejection with the block's release. Each emits its webhook.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from connectpsp.domain.blocks import Block
from connectpsp.domain.clients import Client
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import (
    FieldError,
    IllegalTransition,
    LedgerViolation,
    NotFound,
    StorageConflict,
    ValidationFailed,
)
from connectpsp.domain.ids import new_id
from connectpsp.domain.infraction_payloads import infraction_event, infraction_movement
from connectpsp.domain.infractions import (
    Infraction,
    InfractionAccepted,
    InfractionDecision,
    InfractionRejected,
    InfractionReported,
    InfractionStatus,
)
from connectpsp.domain.ledger import Book, Transfer, client_account_code
from connectpsp.domain.money import Centavos
from connectpsp.domain.refunds import RefundReason, new_refund, refundable
from connectpsp.service.ports import Job, UnitOfWork, UnitOfWorkFactory
from connectpsp.service.publisher import Payloads, Publisher
from connectpsp.service.refund_flow import REFUND_TOPIC

__all__ = ["DEADLINE_TOPIC", "Infractions", "register_payloads"]

DEADLINE_TOPIC = "med_deadline"
_ATTEMPTS = 3  # runs of a transaction that lost a race, before giving up
_Event = InfractionReported | InfractionAccepted | InfractionRejected


def register_payloads(publisher: Publisher) -> None:
    def own(event: _Event, at: datetime) -> dict[str, Any]:
        return infraction_event(event.infraction, at)

    def movement(event: _Event, at: datetime) -> dict[str, Any]:
        return infraction_movement(event.infraction, at)

    for event in (InfractionReported, InfractionAccepted, InfractionRejected):
        publisher.register(event, Payloads(own=own, movement=movement))


class Infractions:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        clock: Clock,
        ispb: str,
        default: InfractionDecision,
        lease: timedelta = timedelta(seconds=30),
        on_event: Callable[[], None] = lambda: None,
        on_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ispb = ispb
        self._default = default
        self._lease = lease
        self._on_event = on_event  # webhooks were queued, or a refund: wake the worker
        # A report or a decision changes what DICT says of the receiver: forget it.
        self._on_changed = on_changed

    # --- the client's view -------------------------------------------------------------

    def get(self, client: Client, infraction_id: str) -> Infraction:
        with self._uow() as uow:
            found = uow.infractions.get(infraction_id)
        if found is None or found.client_id != client.id:
            raise NotFound(f"No infraction {infraction_id}.")
        return found

    def listed(
        self,
        *,
        client_id: str | None = None,
        status: InfractionStatus | None = None,
        limit: int = 100,
    ) -> list[Infraction]:
        with self._uow() as uow:
            return uow.infractions.listed(client_id=client_id, status=status, limit=limit)

    # --- the payer's PSP reports (the sandbox plays it) ---------------------------------

    def report(
        self, end_to_end_id: str, amount: Centavos | None = None, details: str | None = None
    ) -> Infraction:
        """Block up to ``amount`` (all of the Pix by default) of the receiving client's
        available balance, never more than is left of the Pix to refund."""
        infraction = self._retried(lambda: self._report(end_to_end_id, amount, details))
        self._on_changed()
        self._on_event()
        return infraction

    def _report(
        self, end_to_end_id: str, amount: Centavos | None, details: str | None
    ) -> Infraction:
        now = self._clock.now()
        with self._uow(write=True) as uow:
            payment = uow.cash_ins.get(end_to_end_id)
            if payment is None:
                raise NotFound(f"No Pix {end_to_end_id} received at this PSP.")
            account = client_account_code(payment.client_id)
            balance = uow.ledger.lock_balances([account])[account]
            earlier = uow.infractions.of_payment(end_to_end_id)
            if earlier is not None:
                raise IllegalTransition(
                    "This Pix was reported already.", {"infractionId": earlier.id}
                )
            wanted = payment.amount if amount is None else amount
            if not 0 < wanted <= payment.amount:
                raise ValidationFailed(
                    [FieldError("amount", "must be more than 0 and at most the Pix's amount")]
                )
            left = refundable(payment, uow.refunds.of_payments([end_to_end_id])[end_to_end_id])
            transfers, available = _take_over_hold(uow, end_to_end_id, now, balance.available)
            infraction = Infraction.report(
                new_id(),
                client_id=payment.client_id,
                end_to_end_id=end_to_end_id,
                amount=wanted,
                available=min(available, left),
                now=now,
                details=details,
            )
            uow.infractions.add(infraction)
            block = infraction.block()
            if block is not None:
                uow.blocks.add(block)  # no expiry job: the decision ends it
                transfers.append(block.hold())
            uow.ledger.record(transfers)
            job = (infraction.id, {"infractionId": infraction.id})
            uow.outbox.enqueue(DEADLINE_TOPIC, [job], available_at=infraction.deadline)
            uow.emit(InfractionReported(now, infraction, _webhook_url(uow, payment.charge_id)))
            uow.commit()
        return infraction

    # --- the operator decides, or the deadline does ------------------------------------

    def accept(self, infraction_id: str, *, by: str) -> Infraction:
        """Refund what the report blocked to the payer (FR01), from the blocked funds."""
        decided = self._retried(lambda: self._decide(infraction_id, by, None))
        self._on_changed()
        self._on_event()
        return decided

    def reject(self, infraction_id: str, *, by: str, reason: str) -> Infraction:
        """Give the blocked funds back to the client."""
        if not reason.strip():
            raise ValidationFailed([FieldError("reason", "must say why")])
        decided = self._retried(lambda: self._decide(infraction_id, by, reason))
        self._on_changed()
        self._on_event()
        return decided

    def decide_due(self, limit: int = 32) -> int:
        """The worker's step: apply the default decision to infractions past their
        deadline (``CONNECTPSP_MED_DEFAULT``); the number of jobs claimed."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            jobs = uow.outbox.claim(
                DEADLINE_TOPIC, now=now, lease_until=now + self._lease, limit=limit
            )
            uow.commit()
        for job in jobs:
            self._decide_job(job)
        if jobs:
            self._on_changed()
            self._on_event()
        return len(jobs)

    def _decide(
        self, infraction_id: str, by: str, rejection: str | None, *, job_id: int | None = None
    ) -> Infraction:
        now = self._clock.now()
        with self._uow(write=True) as uow:
            found = uow.infractions.get(infraction_id)
            if found is None:
                raise NotFound(f"No infraction {infraction_id}.")
            account = client_account_code(found.client_id)
            book = Book(uow.ledger.lock_balances([account]))
            infraction = uow.infractions.get(infraction_id, lock=True)
            assert infraction is not None
            transfers = self._end_block(uow, infraction, now, by)
            payment = uow.cash_ins.get(infraction.end_to_end_id)
            if payment is None:
                raise LedgerViolation(f"No Pix {infraction.end_to_end_id} for {infraction.id}.")
            webhook_url = _webhook_url(uow, payment.charge_id)
            event: _Event
            if rejection is not None:
                decided = infraction.reject(now, by, rejection)
                event = InfractionRejected(now, decided, webhook_url)
            else:
                earlier = uow.refunds.of_payments([payment.end_to_end_id])[payment.end_to_end_id]
                amount = min(infraction.blocked, refundable(payment, earlier))
                refund = None
                if amount > 0:
                    charge = uow.charges.by_id(payment.charge_id) if payment.charge_id else None
                    refund = new_refund(
                        new_id(),
                        ispb=self._ispb,
                        payment=payment,
                        refunds=earlier,
                        charge=charge,
                        amount=amount,
                        reason=RefundReason.FRAUD,
                        description=f"MED {infraction.id}",
                        now=now,
                        window=False,
                    )
                    # The block's release makes it available and the refund holds it
                    # again, in one transaction: it is never spendable in between.
                    transfers.append(refund.reservation())
                    uow.refunds.add([refund])
                    job = (refund.id, {"refundId": refund.id})
                    uow.outbox.enqueue(REFUND_TOPIC, [job], available_at=now)
                decided = infraction.accept(now, by, refund.id if refund else None)
                event = InfractionAccepted(now, decided, webhook_url)
            book.apply(*transfers)
            uow.ledger.record(transfers)
            if not uow.infractions.decide(decided):
                raise StorageConflict()
            uow.emit(event)
            if job_id is not None:
                uow.outbox.finish(job_id, at=now)
            uow.commit()
        return decided

    @staticmethod
    def _end_block(
        uow: UnitOfWork, infraction: Infraction, now: datetime, by: str
    ) -> list[Transfer]:
        """The end of the infraction's block, stored, and the transfer that gives its
        amount back to the available balance; nothing when it blocked nothing."""
        block = uow.blocks.get(infraction.block_id) if infraction.blocked else None
        if block is None or not block.active:
            return []
        released, back = block.release(now, f"med:{by}")
        if not uow.blocks.release(released):
            raise StorageConflict()
        return [back]

    def _decide_job(self, job: Job) -> None:
        reason = None if self._default is InfractionDecision.ACCEPT else "no decision in time"
        try:
            self._retried(lambda: self._decide(job.ref, "deadline", reason, job_id=job.id))
        except IllegalTransition:  # the operator decided first: only the job ends
            with self._uow(write=True) as uow:
                uow.outbox.finish(job.id, at=self._clock.now())
                uow.commit()

    @staticmethod
    def _retried(run: Callable[[], Infraction]) -> Infraction:
        for attempt in range(_ATTEMPTS):
            try:
                return run()
            except StorageConflict:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")


def _take_over_hold(
    uow: UnitOfWork, end_to_end_id: str, now: datetime, available: Centavos
) -> tuple[list[Transfer], Centavos]:
    """A Pix from a payer DICT marks is held as a precaution (``domain.blocks``): a report
    against it ends that hold in the same transaction, so the report can block what it
    held, which then goes back to the payer, not to the client when the 72 hours end.
    The transfers so far, and the available balance they leave."""
    held = uow.blocks.get(Block.precautionary_id(end_to_end_id))
    if held is None or not held.active:
        return [], available
    released, back = held.release(now, "med")
    if not uow.blocks.release(released):
        raise StorageConflict()
    return [back], available + held.amount


def _webhook_url(uow: UnitOfWork, charge_id: str | None) -> str | None:
    charge = uow.charges.by_id(charge_id) if charge_id else None
    return charge.webhook_url if charge else None
