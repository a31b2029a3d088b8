"""Settlement's writes for a batch of jobs: the terminal moves of its cash-outs, their
reservations and events, and the end of its jobs, each kind in one statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from connectpsp.domain.cashout import CashOut, CashOutCompleted, CashOutFailed, CashOutStatus
from connectpsp.domain.errors import LedgerViolation
from connectpsp.service.ports import Job, UnitOfWork
from connectpsp.service.reservations import Reservations

__all__ = ["Move", "Outcome", "end", "finish"]


@dataclass(frozen=True)
class Outcome:
    """What happened to a job: finished, or to be run again at ``retry_at``."""

    done: bool
    retry_at: datetime | None = None
    failed: bool = False  # the rail did not answer: back off


# A claimed job, the cash-out as read, and the terminal cash-out the domain made of it.
Move = tuple[Job, CashOut, CashOut]


def end(
    held: Reservations,
    moves: list[Move],
    deferred: list[tuple[Job, Outcome]],
    now: datetime,
    *,
    before_submit: bool = False,
    over: list[Job] | None = None,
) -> None:
    """A transaction's terminal moves in one statement, each with its reservations
    (posted or voided) and its event; then its jobs ended (the moves' and ``over``) and
    deferred, in a statement each. A second worker that got here too finds the cash-out
    terminal and writes nothing but the end of its job. With ``before_submit`` (DICT
    refused it), a cash-out another worker has sent meanwhile is not ours to fail: its
    job comes back in a second, to reconcile."""
    uow = held.uow
    targets = [target for _, _, target in moves]
    moved = uow.cash_outs.finish_many(targets, at=now, unsubmitted_only=before_submit)
    ended = [job.id for job in over or ()]
    deferred = list(deferred)
    for job, cash_out, target in moves:
        if target.id in moved:
            if target.status is CashOutStatus.COMPLETED:
                held.resolve(cash_out, post=True)
                uow.emit(CashOutCompleted(now, target))
            else:
                held.resolve(cash_out, post=False)
                uow.emit(CashOutFailed(now, target))
        elif not _stored(uow, target, unsubmitted_only=before_submit).status.is_terminal:
            deferred.append((job, Outcome(False, now + timedelta(seconds=1))))
            continue
        ended.append(job.id)
    uow.outbox.finish_many(ended, at=now)
    uow.outbox.defer_many([(job.id, o.retry_at or now, o.failed) for job, o in deferred])


def finish(
    uow: UnitOfWork, cash_out: CashOut, at: datetime, *, unsubmitted_only: bool = False
) -> CashOut | None:
    """Persist ``cash_out``, which the domain just moved to a terminal status, once.

    None when this call made the move. Otherwise the cash-out as stored: another worker
    made the same move first, or (``unsubmitted_only``) sent it to the rail meanwhile.
    ``IllegalTransition`` when it reached a different terminal status."""
    if uow.cash_outs.finish(cash_out, at=at, unsubmitted_only=unsubmitted_only):
        return None
    return _stored(uow, cash_out, unsubmitted_only=unsubmitted_only)


def _stored(uow: UnitOfWork, cash_out: CashOut, *, unsubmitted_only: bool) -> CashOut:
    """The cash-out as stored, after ``cash_out``'s move found it moved already."""
    current = uow.cash_outs.by_id(cash_out.id)
    if current is None:
        raise LedgerViolation(f"No cash-out {cash_out.id} to finish.")
    if current.status is not cash_out.status and not (
        unsubmitted_only and current.submitted_at is not None
    ):
        current.status.check_transition(cash_out.status)  # out of a terminal status: raises
    return current
