"""Settlement: take an accepted cash-out to COMPLETED or FAILED through the rail.

A job runs these steps, and may be cut off after any of them (a crash, a kill -9):
1. If the cash-out was never submitted: resolve the key in DICT (an unknown key fails
   it; a holder whose document differs fails it with BE01), then record the creditor
   and "submitted" in our database. This is committed before the rail is called.
2. If it was submitted before, ask the rail for the payment first (reconcile). Submit
   only if the rail has never seen it. So the rail is asked to pay at most once, and the
   rail's own idempotency key, derived from the cash-out id, guards the gap between.
3. Apply the rail's answer in one transaction: post or void the reservation, store the
   outcome, enqueue the webhook events, and finish the job. A timeout or an unknown
   answer is never a failure: the job comes back later and reconciles.

One job that cannot be applied (an answer that breaks an invariant, a bug) never holds
up the others: if the batch's transaction fails, each job is applied in a transaction
of its own, and the one that fails again is put off with backoff, its money untouched.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectpsp.domain.cashout import (
    BankAccount,
    CashOut,
    Creditor,
    Failure,
    PixDestination,
)
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import StorageConflict, StorageUnavailable
from connectpsp.domain.ids import derived_id, end_to_end_id
from connectpsp.domain.pix import PixKeyType
from connectpsp.domain.spi import PIX_KEY_NOT_FOUND, ReasonCode, failure_for
from connectpsp.service.cashouts import SETTLE_TOPIC
from connectpsp.service.ports import Job, UnitOfWorkFactory
from connectpsp.service.rail import (
    Payer,
    PaymentOrder,
    Rail,
    RailState,
    RailStatus,
    RailUnavailable,
)
from connectpsp.service.reservations import Reservations
from connectpsp.service.settlement_moves import Move, Outcome, end, finish

__all__ = ["SettlementService", "finish", "rail_key"]

_MAX_BACKOFF = timedelta(seconds=60)
# Ids and error types only: never a document or an amount.
_log = logging.getLogger("connectpsp.settlement")


def rail_key(cash_out_id: str) -> str:
    """The idempotency key the rail sees for a cash-out: the same on every retry."""
    return derived_id(cash_out_id, "rail")


@dataclass
class _Batch:
    """A batch of claimed jobs, sorted by what each needs."""

    fresh: list[tuple[Job, CashOut, Creditor]] = field(default_factory=list)  # to send
    refused: list[tuple[Job, CashOut, Failure, str | None]] = field(default_factory=list)
    resend: list[tuple[Job, CashOut, Creditor]] = field(default_factory=list)  # rail never saw
    known: list[tuple[Job, CashOut, RailStatus]] = field(default_factory=list)  # rail answered
    over: list[Job] = field(default_factory=list)  # nothing left to do
    deferred: list[tuple[Job, Outcome]] = field(default_factory=list)


class SettlementService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        rail: Rail,
        clock: Clock,
        ispb: str,
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self._uow = uow
        self._rail = rail
        self._clock = clock
        self._ispb = ispb
        # A claimed job is ours until the lease ends; if we die, another worker takes it
        # then. Longer than any batch takes, short enough that a crash is soon repaired.
        self._lease = lease

    def run_due(self, limit: int = 128) -> int:
        """Claim due settlement jobs and run them together; the number claimed.

        However many there are, the batch takes three transactions: one marks the new
        payments submitted (before the rail is asked), the rail takes them in one
        ``submit_many`` call, and one applies every answer, each kind of write in one
        statement. A payment sent before is asked about first (reconciled), and sent
        again only if the rail never saw it. The batch is small enough to finish well
        inside a job's lease; larger ones gain little more (bench/settle.py)."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            jobs = uow.outbox.claim(
                SETTLE_TOPIC, now=now, lease_until=now + self._lease, limit=limit
            )
            uow.commit()
        if jobs:
            self.settle(jobs)
        return len(jobs)

    def settle(self, jobs: list[Job]) -> None:
        """Run claimed jobs together. Two workers may hold one job (a lease ran out while
        the first was slow): the guards on the cash-out's status and on "submitted" make
        the second reconcile instead of paying or refunding again."""
        with self._uow() as uow:
            found = uow.cash_outs.by_ids([job.ref for job in jobs])
            # Who pays, as a payment order names them: each client, at our ISPB.
            clients = [uow.clients.get(i) for i in sorted({c.client_id for c in found.values()})]
        debtors = {c.id: Payer(c.name, c.document or "", self._ispb) for c in clients if c}
        batch = _Batch()
        # DICT's answers in this batch: one moment, so a key its payments share is asked once.
        creditors: dict[tuple[PixKeyType, str], Creditor | None] = {}
        for job in jobs:
            cash_out = found.get(job.ref)
            try:
                self._sort(batch, job, cash_out, creditors)
            except RailUnavailable:
                batch.deferred.append((job, self._unanswered(job)))
            except Exception as error:  # this job's trouble, not the batch's
                self._report(job, error)
                batch.deferred.append((job, self._unanswered(job)))
        to_send = [*self._mark_submitted(batch), *batch.resend]
        answers: list[RailStatus] = []
        if to_send:
            orders = [
                self._order(cash_out, creditor, debtors.get(cash_out.client_id))
                for _, cash_out, creditor in to_send
            ]
            try:
                answers = self._rail.submit_many(orders)
            except RailUnavailable:
                answers = [RailStatus(RailState.UNKNOWN)] * len(orders)
        settled = [(j, c, a) for (j, c, _), a in zip(to_send, answers, strict=True)]
        answered = [*settled, *batch.known]
        if answered:
            try:
                self._apply_all(answered)
            except StorageUnavailable as error:
                if not isinstance(error, StorageConflict):
                    raise  # the database, not a job: the leases bring them all back
                self._apply_each(answered)
            except Exception:
                self._apply_each(answered)  # find the job that fails; the others go on

    def _apply_all(self, answered: list[tuple[Job, CashOut, RailStatus]]) -> None:
        """Every answer in one transaction: the common case, and the cheap one."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            held = Reservations(uow, [cash_out for _, cash_out, _ in answered])
            moves: list[Move] = []
            deferred: list[tuple[Job, Outcome]] = []
            for job, cash_out, answer in answered:
                try:
                    # An answer that makes no sense raises before anything is written.
                    decided = self._decide(cash_out, answer)
                except RailUnavailable:
                    decided = self._unanswered(job)
                if isinstance(decided, Outcome):
                    deferred.append((job, decided))
                else:
                    moves.append((job, cash_out, decided))
            end(held, moves, deferred, now)
            held.record()
            uow.commit()

    def _apply_each(self, answered: list[tuple[Job, CashOut, RailStatus]]) -> None:
        """Each answer in a transaction of its own, after the batch's failed: a job that
        fails again is deferred with backoff (the rail is asked again then), and the
        rest commit."""
        for job, cash_out, answer in answered:
            try:
                self._apply_all([(job, cash_out, answer)])
            except StorageUnavailable as error:
                if not isinstance(error, StorageConflict):
                    raise
                self._defer(job, Outcome(False, self._clock.now() + timedelta(seconds=1)))
            except Exception as error:
                self._report(job, error)
                self._defer(job, self._unanswered(job))

    def _defer(self, job: Job, outcome: Outcome) -> None:
        assert outcome.retry_at is not None
        with self._uow(write=True) as uow:
            uow.outbox.defer(job.id, until=outcome.retry_at, failed=outcome.failed)
            uow.commit()

    @staticmethod
    def _report(job: Job, error: Exception) -> None:
        _log.warning(
            "settlement job %s (cash-out %s) put off after %s",
            job.id,
            job.ref,
            type(error).__name__,
        )

    def _sort(
        self,
        batch: _Batch,
        job: Job,
        cash_out: CashOut | None,
        creditors: dict[tuple[PixKeyType, str], Creditor | None],
    ) -> None:
        """Where a claimed job goes in its batch; the rail's reads happen here."""
        if cash_out is None or cash_out.status.is_terminal:
            batch.over.append(job)
        elif cash_out.submitted_at is not None:
            status = self._rail.status(rail_key(cash_out.id))
            if status.state is RailState.NOT_FOUND:  # never reached the rail: send it now
                assert cash_out.creditor is not None
                batch.resend.append((job, cash_out, cash_out.creditor))
            else:
                batch.known.append((job, cash_out, status))
        else:
            creditor = self._resolve(cash_out, creditors)
            refusal = _refusal(cash_out, creditor)
            if refusal is not None:
                batch.refused.append((job, cash_out, *refusal))
            else:
                assert creditor is not None
                batch.fresh.append((job, cash_out, creditor))

    def _mark_submitted(self, batch: _Batch) -> list[tuple[Job, CashOut, Creditor]]:
        """One transaction: record "submitted" and the creditor of every new payment about
        to be sent (before the rail is asked), fail the ones DICT refused, end the jobs
        with nothing left to do, defer the rest. The new payments this worker may send."""
        now = self._clock.now()
        later = Outcome(False, now + timedelta(seconds=1))
        for _ in range(_ATTEMPTS - 1):
            # A transaction that lost a race runs again, rather than leave the batch's
            # jobs to wait for their leases.
            with contextlib.suppress(StorageConflict):
                return self._mark_submitted_once(batch, now, later)
        return self._mark_submitted_once(batch, now, later)

    def _mark_submitted_once(
        self, batch: _Batch, now: datetime, later: Outcome
    ) -> list[tuple[Job, CashOut, Creditor]]:
        with self._uow(write=True) as uow:
            held = Reservations(uow, [cash_out for _, cash_out, _, _ in batch.refused])
            sent = [(job, c.submit(creditor, now), creditor) for job, c, creditor in batch.fresh]
            marked = uow.cash_outs.mark_submitted_many([c for _, c, _ in sent], now)
            submitted = [one for one in sent if one[1].id in marked]
            deferred = [
                *batch.deferred,
                # Another worker is submitting these: reconcile on the next run.
                *((job, later) for job, cash_out, _ in sent if cash_out.id not in marked),
            ]
            refusals = [
                (job, cash_out, cash_out.fail(failure, reason or None))
                for job, cash_out, failure, reason in batch.refused
            ]
            end(held, refusals, deferred, now, before_submit=True, over=batch.over)
            held.record()
            uow.commit()
        return submitted

    def _unanswered(self, job: Job) -> Outcome:
        return Outcome(False, self._clock.now() + _backoff(job.failures + 1), failed=True)

    def _resolve(
        self, cash_out: CashOut, creditors: dict[tuple[PixKeyType, str], Creditor | None]
    ) -> Creditor | None:
        payee = cash_out.payee
        destination = payee.destination
        if isinstance(destination, BankAccount):
            # Manual initiation: the account given goes straight to SPI.
            return Creditor(
                payee.name,
                payee.document,
                destination.ispb,
                destination.branch,
                destination.account,
                destination.account_type,
            )
        asked = (destination.key_type, destination.key)
        if asked not in creditors:
            creditors[asked] = self._rail.lookup(*asked)
        return creditors[asked]

    def _order(self, cash_out: CashOut, creditor: Creditor, debtor: Payer | None) -> PaymentOrder:
        destination = cash_out.payee.destination
        pix = destination if isinstance(destination, PixDestination) else None
        return PaymentOrder(
            idempotency_key=rail_key(cash_out.id),
            end_to_end_id=end_to_end_id(self._ispb, cash_out.requested_at, cash_out.id),
            amount=cash_out.amount,
            payer_ispb=self._ispb,
            creditor=creditor,
            key=pix.key if pix else None,
            txid=pix.txid if pix else None,
            debtor=debtor,
        )

    def _decide(self, cash_out: CashOut, status: RailStatus) -> CashOut | Outcome:
        """The rail's answer: the terminal cash-out it makes, or when to ask again."""
        if status.state is RailState.SETTLED:
            if status.end_to_end_id is None or status.settled_at is None:
                raise RailUnavailable("the rail answered SETTLED without endToEndId or time")
            return cash_out.complete(status.end_to_end_id, status.settled_at)
        if status.state is RailState.REJECTED:
            # Any reason text: an unknown one is PAYMENT_FAILED, its code kept as sent.
            return cash_out.fail(failure_for(status.reason), status.reason or None)
        if status.state is RailState.PENDING:
            return Outcome(False, status.check_again_at or self._clock.now() + timedelta(seconds=1))
        raise RailUnavailable(f"the rail answered {status.state} for a payment it was sent")


_ATTEMPTS = 3  # runs of a transaction that lost a race, before giving up


def _backoff(failures: int) -> timedelta:
    """1 s, 2 s, 4 s ... after the 1st, 2nd, 3rd failure in a row; capped at a minute."""
    return min(timedelta(seconds=2 ** min(max(failures - 1, 0), 6)), _MAX_BACKOFF)


def _refusal(cash_out: CashOut, creditor: Creditor | None) -> tuple[Failure, str | None] | None:
    """Why DICT's answer stops the payment before it is sent, if it does."""
    if creditor is None:
        return PIX_KEY_NOT_FOUND, None
    paying_a_code = isinstance(cash_out.payee.destination, PixDestination) and (
        cash_out.payee.destination.br_code is not None
    )
    # A BR Code's payer names no document to check: the code names the receiver.
    if not paying_a_code and creditor.document != cash_out.payee.document:
        return failure_for(ReasonCode.BE01), ReasonCode.BE01
    return None
