"""Settlement over in-memory fakes, in milliseconds: a payment the rail settles or
rejects, answers that never came, DICT's refusals before anything is sent, and workers
that meet on one job. The same engine against real databases and the simulated network:
tests/integration/test_settlement.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from connectpsp.domain.cashout import (
    BankAccount,
    CashOut,
    CashOutStatus,
    Creditor,
    Payee,
    PixDestination,
)
from connectpsp.domain.cashout_acceptance import fee_transfer_id
from connectpsp.domain.clients import Client
from connectpsp.domain.ledger import PSP_FEES, PSP_SETTLEMENT, TransferKind
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.domain.spi import PIX_KEY_NOT_FOUND
from connectpsp.service.acceptance import Accepted
from connectpsp.service.cashouts import SETTLE_TOPIC
from connectpsp.service.ports import Job
from connectpsp.service.rail import PaymentOrder, RailState, RailStatus
from connectpsp.service.settlement import SettlementService, finish, rail_key
from tests.fakes import ISPB, MARIA, PAYEE, JobRow, Services, fake_services, request

BANK_PAYEE = Payee(
    MARIA.name,
    MARIA.document,
    BankAccount(MARIA.ispb, MARIA.branch, MARIA.account, AccountType.PAYMENT),
)


@pytest.fixture
def s() -> Iterator[Services]:
    with fake_services() as services:
        yield services


def accept(
    s: Services, n: int = 1, *, fee: int = 0, payee: Payee = PAYEE
) -> tuple[Client, list[str]]:
    """A client funded with 100.00 and ``n`` accepted cash-outs of 10.00 to ``payee``."""
    payer = s.client(funds=100_00, fee=fee)
    ids = []
    for _ in range(n):
        decided = s.cash_outs.create(payer, str(uuid.uuid4()), request(10_00, payee=payee))
        assert isinstance(decided.outcome, Accepted)
        ids.append(decided.outcome.result.id)
    return payer, ids


def cash_out(s: Services, cash_out_id: str) -> CashOut:
    return s.db.committed.cash_outs[cash_out_id]


def job(s: Services, cash_out_id: str) -> JobRow:
    return next(j for j in s.db.committed.jobs.values() if j.ref == cash_out_id)


def events(s: Services) -> list[tuple[str, str]]:
    return [(e.type, e.subject_id) for e in s.db.published]


def money(s: Services, payer: Client) -> tuple[int, int, int]:
    """The client's available and reserved balance, and its daily usage today."""
    balance = s.clients.balance(payer.id)
    usage = sum(v for (c, _), v in s.db.committed.daily_usage.items() if c == payer.id)
    return balance.available, balance.reserved, usage


@pytest.mark.parametrize("fee", [0, 1_00])
@pytest.mark.parametrize("payee", [PAYEE, BANK_PAYEE], ids=["pix-key", "bank-account"])
def test_a_settled_payment_completes_posts_its_reservation_and_says_so(
    s: Services, fee: int, payee: Payee
) -> None:
    payer, (cash_out_id,) = accept(s, fee=fee, payee=payee)
    assert s.settlement.run_due() == 1
    done = cash_out(s, cash_out_id)
    (order,) = s.rail.orders
    assert (done.status, done.end_to_end_id, done.paid_at, done.creditor) == (
        CashOutStatus.COMPLETED,
        order.end_to_end_id,
        s.clock.now(),
        MARIA,
    )
    assert (order.idempotency_key, order.amount, order.payer_ispb) == (
        rail_key(cash_out_id),
        10_00,
        ISPB,
    )
    assert order.end_to_end_id.startswith(f"E{ISPB}202603101500")
    # A Pix key is resolved in DICT; a bank account goes to SPI as given.
    looked_up = [name for name, _ in s.rail.log] == ["lookup", "submit_many"]
    assert looked_up is isinstance(payee.destination, PixDestination)
    assert money(s, payer) == (90_00 - fee, 0, 10_00)
    with s.db() as uow:
        assert uow.ledger.balance(PSP_SETTLEMENT).credits_posted == 10_00
        assert uow.ledger.balance(PSP_FEES).credits_posted == fee
        assert uow.ledger.balance(PSP_SETTLEMENT).credits_pending == 0
    posts = [t for t in s.db.committed.transfers.values() if t.kind is TransferKind.POST_PENDING]
    expected = {cash_out_id, fee_transfer_id(cash_out_id)} if fee else {cash_out_id}
    assert {t.pending_id for t in posts} == expected
    assert events(s) == [("CASHOUT_COMPLETED", cash_out_id)]
    assert job(s, cash_out_id).done_at == s.clock.now()


@pytest.mark.parametrize(
    ("reason", "failure"),
    [
        ("AC03", "INVALID_ACCOUNT"),
        ("CH11", "DOCUMENT_MISMATCH"),
        ("AB03", "SETTLEMENT_TIMEOUT"),
        ("XX99", "PAYMENT_FAILED"),  # a code no catalogue of ours has: kept as sent
        (None, "PAYMENT_FAILED"),
    ],
)
def test_a_rejected_payment_fails_and_gives_back_money_and_limit(
    s: Services, reason: str | None, failure: str
) -> None:
    payer, (cash_out_id,) = accept(s, fee=1_00)
    s.rail.spi = lambda order: RailStatus(RailState.REJECTED, order.end_to_end_id, reason=reason)
    assert money(s, payer) == (89_00, 11_00, 10_00)
    s.settlement.run_due()
    failed = cash_out(s, cash_out_id)
    assert failed.status is CashOutStatus.FAILED
    assert failed.failure is not None and failed.failure.code == failure
    assert failed.spi_reason_code == reason
    assert money(s, payer) == (100_00, 0, 0)  # voided, and the day's allowance is back
    voids = [t for t in s.db.committed.transfers.values() if t.kind is TransferKind.VOID_PENDING]
    assert {t.pending_id for t in voids} == {cash_out_id, fee_transfer_id(cash_out_id)}
    assert events(s) == [("CASHOUT_FAILED", cash_out_id)]
    assert job(s, cash_out_id).done_at is not None


# The key's holder, as DICT now says: someone with another document (BCB's BE01).
ANOTHER_HOLDER = replace(MARIA, name="Joana Lima", document="98765432100")


@pytest.mark.parametrize(
    ("dict_answer", "failure", "reason"),
    [
        (None, PIX_KEY_NOT_FOUND.code, None),  # the key resolves to nothing
        (ANOTHER_HOLDER, "DOCUMENT_MISMATCH", "BE01"),
    ],
    ids=["no-such-key", "another-holder"],
)
def test_dict_refusals_fail_the_payment_before_it_is_sent(
    s: Services, dict_answer: Creditor | None, failure: str, reason: str | None
) -> None:
    payer, (cash_out_id,) = accept(s)
    key = (PixKeyType.CPF, MARIA.document)
    if dict_answer is None:
        del s.rail.keys[key]
    else:
        s.rail.keys[key] = dict_answer
    assert s.settlement.run_due() == 1
    assert [name for name, _ in s.rail.log] == ["lookup"]  # never sent to SPI
    failed = cash_out(s, cash_out_id)
    assert (failed.status, failed.submitted_at, failed.spi_reason_code) == (
        CashOutStatus.FAILED,
        None,
        reason,
    )
    assert failed.failure is not None and failed.failure.code == failure
    assert money(s, payer) == (100_00, 0, 0)
    assert events(s) == [("CASHOUT_FAILED", cash_out_id)]
    assert job(s, cash_out_id).done_at is not None


def test_a_refusal_whose_commit_loses_a_race_is_written_on_the_next_try(s: Services) -> None:
    """Another writer commits while the batch records DICT's refusal: the transaction runs
    again at once, instead of leaving the job claimed until its lease runs out."""
    payer, (cash_out_id,) = accept(s)
    del s.rail.keys[(PixKeyType.CPF, MARIA.document)]
    other = s.client(funds=1_00)
    lookup = s.rail.lookup

    def another_writer_commits() -> None:
        s.clients.fund(other.id, 1_00)

    def lookup_then_race(*args: object) -> Creditor | None:
        s.db.meanwhile(another_writer_commits)
        return lookup(*args)  # type: ignore[arg-type]

    s.rail.lookup = lookup_then_race  # type: ignore[method-assign,assignment]
    before = s.db.write_transactions
    assert s.settlement.run_due() == 1
    assert s.db.write_transactions - before >= 3  # the claim, the lost try, the retry
    assert cash_out(s, cash_out_id).status is CashOutStatus.FAILED
    assert money(s, payer) == (100_00, 0, 0)
    assert job(s, cash_out_id).done_at is not None


def unknown(s: Services) -> None:
    s.rail.spi = lambda order: RailStatus(RailState.UNKNOWN)


def unreachable(s: Services) -> None:
    s.rail.down["submit_many"] = 1


def answer_lost(s: Services) -> None:
    s.rail.lost = 1


@pytest.mark.parametrize(
    ("trouble", "paid"),
    [(unknown, False), (unreachable, False), (answer_lost, True)],
    ids=["unknown-answer", "rail-unreachable", "paid-answer-lost"],
)
def test_an_unanswered_payment_stays_processing_then_is_reconciled_before_any_resend(
    s: Services, trouble: Callable[[Services], None], paid: bool
) -> None:
    """Whatever the rail did with it, a payment without an answer is never failed: it
    keeps its reservation, its job comes back after a backoff, and the next run asks the
    rail about it first, sending it again only if the rail never took it."""
    payer, (cash_out_id,) = accept(s)
    trouble(s)
    started = s.clock.now()
    s.settlement.run_due()
    waiting = cash_out(s, cash_out_id)
    assert (waiting.status, waiting.submitted_at, waiting.creditor) == (
        CashOutStatus.PROCESSING,
        started,
        MARIA,
    )
    assert money(s, payer) == (90_00, 10_00, 10_00)
    deferred = job(s, cash_out_id)
    assert (deferred.done_at, deferred.failures) == (None, 1)
    assert deferred.available_at == started + timedelta(seconds=1)  # backoff: 1 s, 2 s...
    assert events(s) == []
    s.rail.spi = s.rail.settle
    s.rail.log.clear()
    s.clock.advance(minutes=2)
    assert s.settlement.run_due() == 1
    key = rail_key(cash_out_id)
    resend = [] if paid else [("submit_many", key)]
    assert s.rail.log == [("status", key), *resend]
    assert cash_out(s, cash_out_id).status is CashOutStatus.COMPLETED
    assert {(o.idempotency_key, o.end_to_end_id) for o in s.rail.orders} == {
        (key, s.rail.orders[0].end_to_end_id)
    }  # every send of it carries the same keys: the rail pays once
    assert money(s, payer) == (90_00, 0, 10_00)
    assert events(s) == [("CASHOUT_COMPLETED", cash_out_id)]


def test_a_pending_payment_is_asked_about_again_when_due(s: Services) -> None:
    payer, (cash_out_id,) = accept(s)
    due = s.clock.now() + timedelta(seconds=5)
    s.rail.spi = lambda order: RailStatus(RailState.PENDING, check_again_at=due)
    s.settlement.run_due()
    assert cash_out(s, cash_out_id).status is CashOutStatus.PROCESSING
    assert (job(s, cash_out_id).available_at, job(s, cash_out_id).failures) == (due, 0)
    s.clock.advance(seconds=4)
    assert s.settlement.run_due() == 0  # not due yet
    s.rail.payments[rail_key(cash_out_id)] = s.rail.settle(s.rail.orders[0])
    s.clock.advance(seconds=1)
    assert s.settlement.run_due() == 1
    assert [name for name, _ in s.rail.log] == ["lookup", "submit_many", "status"]
    assert cash_out(s, cash_out_id).status is CashOutStatus.COMPLETED
    assert money(s, payer) == (90_00, 0, 10_00)


def claim(s: Services) -> list[Job]:
    """Claim the due jobs as a worker whose lease then runs out at once: another worker
    may claim them too."""
    with s.db(write=True) as uow:
        now = s.clock.now()
        jobs = uow.outbox.claim(SETTLE_TOPIC, now=now, lease_until=now, limit=100)
        uow.commit()
    return jobs


def test_a_second_worker_on_a_finished_job_writes_nothing_but_its_end(s: Services) -> None:
    payer, (cash_out_id,) = accept(s)
    jobs = claim(s)  # two workers hold the job: its lease ran out
    s.settlement.settle(jobs)
    before, published, calls = s.db.committed, list(s.db.published), list(s.rail.log)
    s.clock.advance(seconds=30)
    s.settlement.settle(jobs)
    after = s.db.committed
    for table in ("cash_outs", "transfers", "accounts", "daily_usage", "messages", "deliveries"):
        assert getattr(after, table) == getattr(before, table), table
    assert (s.db.published, s.rail.log) == (published, calls)  # no event, no rail call
    assert after.jobs[jobs[0].id].done_at is not None
    assert cash_out(s, cash_out_id).status is CashOutStatus.COMPLETED
    assert money(s, payer) == (90_00, 0, 10_00)


def test_a_worker_that_read_it_processing_changes_nothing_another_finished(
    s: Services,
) -> None:
    """Worker B asks the rail about a submitted payment while worker A, holding the same
    job, completes it: B's answer finds the cash-out COMPLETED, and posts nothing twice."""
    payer, (cash_out_id,) = accept(s)
    s.rail.lost = 1
    s.settlement.run_due()  # sent, answer lost: PROCESSING, submitted
    s.clock.advance(minutes=2)
    jobs = claim(s)
    worker_a = SettlementService(s.db, rail=s.rail, clock=s.clock, ispb=ISPB)
    s.rail.meanwhile.append(lambda: worker_a.settle(jobs))
    s.settlement.settle(jobs)  # worker B
    assert [name for name, _ in s.rail.log][-2:] == ["status", "status"]  # B's, and A's inside it
    assert cash_out(s, cash_out_id).status is CashOutStatus.COMPLETED
    assert events(s) == [("CASHOUT_COMPLETED", cash_out_id)]
    posts = [t for t in s.db.committed.transfers.values() if t.kind is TransferKind.POST_PENDING]
    assert [t.pending_id for t in posts] == [cash_out_id]
    assert money(s, payer) == (90_00, 0, 10_00)
    assert job(s, cash_out_id).done_at is not None


def test_a_stale_worker_never_fails_a_cash_out_another_sent(s: Services) -> None:
    """Worker B read the cash-out as never sent; while B looks the key up, worker A sends
    it (and the rail pays it), and the key resolves to nothing for B. B must not fail it
    (A's payment would settle on a refunded balance): it reconciles next time."""
    payer, (cash_out_id,) = accept(s)

    def worker_a_sends_it() -> None:
        with s.db(write=True) as uow:
            found = uow.cash_outs.by_id(cash_out_id)
            assert found is not None
            assert uow.cash_outs.mark_submitted(found.submit(MARIA, s.clock.now()), s.clock.now())
            uow.commit()
        paid = PaymentOrder(rail_key(cash_out_id), "E" + ISPB + "0" * 23, 10_00, ISPB, MARIA)
        s.rail.payments[paid.idempotency_key] = s.rail.settle(paid)
        s.rail.keys.clear()  # what B's lookup then finds

    s.rail.meanwhile.append(worker_a_sends_it)
    s.settlement.run_due()
    assert cash_out(s, cash_out_id).status is CashOutStatus.PROCESSING
    assert money(s, payer) == (90_00, 10_00, 10_00)  # still reserved, not refunded
    assert job(s, cash_out_id).done_at is None and events(s) == []
    s.clock.advance(seconds=2)
    s.settlement.run_due()
    assert [name for name, _ in s.rail.log] == ["lookup", "status"]  # B never sends it
    assert cash_out(s, cash_out_id).status is CashOutStatus.COMPLETED
    assert money(s, payer) == (90_00, 0, 10_00)


def test_a_job_that_cannot_be_applied_does_not_hold_up_the_batch(s: Services) -> None:
    """The rail settles a cash-out that was failed here meanwhile: applying it is an
    illegal move (FAILED -> COMPLETED). That job is put off with backoff, nothing of it
    written; the other job of the batch completes."""
    payer, (bad, good) = accept(s, 2)

    def fail_it_meanwhile(order: PaymentOrder) -> RailStatus:
        if order.idempotency_key == rail_key(bad):
            with s.db(write=True) as uow:
                found = uow.cash_outs.by_id(bad)
                assert found is not None
                finish(uow, found.fail(PIX_KEY_NOT_FOUND), s.clock.now())
                uow.commit()
        return s.rail.settle(order)

    s.rail.spi = fail_it_meanwhile
    assert s.settlement.run_due() == 2
    assert cash_out(s, good).status is CashOutStatus.COMPLETED
    assert cash_out(s, bad).status is CashOutStatus.FAILED
    assert cash_out(s, bad).end_to_end_id is None  # not overwritten
    assert events(s) == [("CASHOUT_COMPLETED", good)]
    put_off = job(s, bad)
    assert (put_off.done_at, put_off.failures) == (None, 1)
    assert put_off.available_at > s.clock.now()
    assert money(s, payer)[1] == 10_00  # the bad one's reservation: untouched


def test_a_batch_asks_dict_once_for_a_key_its_payments_share(s: Services) -> None:
    """A batch is one moment: DICT answers a key once for all of its payments."""
    payer, ids = accept(s, 3)
    assert s.settlement.run_due() == 3
    assert [name for name, _ in s.rail.log] == ["lookup", "submit_many"]
    assert all(cash_out(s, i).status is CashOutStatus.COMPLETED for i in ids)
    assert money(s, payer) == (70_00, 0, 30_00)
