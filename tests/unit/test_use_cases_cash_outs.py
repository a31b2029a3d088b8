"""The cash-out flow over in-memory fakes, in milliseconds: what an acceptance writes
(reservations, usage, the cash-out, its settlement job, and no event yet), the fee and
the daily limit inside a batch, references, and reading cash-outs back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date

import pytest

from connectpsp.domain.cashout import CashOutStatus
from connectpsp.domain.cashout_acceptance import fee_transfer_id
from connectpsp.domain.errors import NotFound
from connectpsp.domain.ledger import PSP_FEES, PSP_SETTLEMENT, TransferKind, client_account_code
from connectpsp.service.acceptance import Accepted, Refused
from connectpsp.service.cashouts import SETTLE_TOPIC
from tests.fakes import Services, fake_services, one_batch, request


@pytest.fixture
def s() -> Iterator[Services]:
    with fake_services() as services:
        yield services


def code_of(s: Services, payer_id: str, key: str, amount: int, reference: str | None = None) -> str:
    """Submit and wait: "accepted" or the refusal's code."""
    payer = s.clients.get(payer_id)
    outcome = s.cash_outs.create(payer, key, request(amount, reference)).outcome
    return "accepted" if isinstance(outcome, Accepted) else outcome.error.code


@pytest.mark.parametrize("fee", [0, 1_50])
def test_an_acceptance_reserves_amount_and_fee_and_queues_settlement_not_an_event(
    s: Services, fee: int
) -> None:
    payer = s.client(funds=100_00, fee=fee)
    decided = s.cash_outs.create(payer, "k", request(10_00, "ref-1"))
    assert isinstance(decided.outcome, Accepted)
    accepted = decided.outcome.result
    t = s.db.committed
    cash_out = t.cash_outs[accepted.id]
    assert (cash_out.status, cash_out.amount, cash_out.fee, cash_out.requested_at) == (
        CashOutStatus.PROCESSING,
        10_00,
        fee,
        s.clock.now(),
    )
    assert (accepted.internal_code, accepted.external_reference) == (
        cash_out.internal_code,
        "ref-1",
    )
    reserved = [
        (tr.id, tr.credit, tr.amount, tr.kind)
        for tr in t.transfers.values()
        if tr.ref == cash_out.id
    ]
    expected = [(cash_out.id, PSP_SETTLEMENT, 10_00, TransferKind.PENDING)]
    if fee:
        expected.append((fee_transfer_id(cash_out.id), PSP_FEES, fee, TransferKind.PENDING))
    assert reserved == expected
    balance = s.clients.balance(payer.id)
    assert (balance.available, balance.reserved, balance.total) == (
        90_00 - fee,
        10_00 + fee,
        100_00,
    )
    with s.db() as uow:
        assert uow.ledger.summed_balance(client_account_code(payer.id)) == balance
    assert t.daily_usage == {(payer.id, date(2026, 3, 10)): 10_00}  # the amount, not the fee
    (job,) = t.jobs.values()
    assert (job.topic, job.ref, job.available_at, job.done_at) == (
        SETTLE_TOPIC,
        cash_out.id,
        s.clock.now(),
        None,
    )
    assert s.db.published == [] and t.messages == {} and t.deliveries == {}
    assert s.wakes == ["settle"]  # the worker is told there is work


def test_a_refusal_writes_nothing_but_its_outcome(s: Services) -> None:
    payer = s.client(funds=5_00)
    before = s.db.committed
    assert code_of(s, payer.id, "k", 10_00) == "INSUFFICIENT_BALANCE"
    after = s.db.committed
    for table in ("cash_outs", "transfers", "daily_usage", "jobs", "messages"):
        assert getattr(after, table) == getattr(before, table), table
    assert list(after.idempotency) == [(payer.id, "k")]
    assert s.wakes == []  # nothing to settle


def test_the_fee_counts_against_the_balance_inside_one_batch(s: Services) -> None:
    """Two 10.00 cash-outs with a 1.00 fee from 21.00, decided together: the first takes
    11.00, so the second finds 10.00, short of its 11.00. The batch's own book refuses
    it; the ledger's CHECK (here the fake's) never has to."""
    payer = s.client(funds=21_00, fee=1_00)
    before = s.db.write_transactions
    with one_batch(s.engine, s.db, payer):
        first = s.cash_outs.submit(payer, "fee-1", request(10_00))
        second = s.cash_outs.submit(payer, "fee-2", request(10_00))
    assert isinstance(first.result(5).outcome, Accepted)
    refused = second.result(5).outcome
    assert isinstance(refused, Refused) and refused.error.code == "INSUFFICIENT_BALANCE"
    assert s.db.write_transactions - before == 2  # the hold, the batch: never rerun
    balance = s.clients.balance(payer.id)
    assert (balance.available, balance.reserved) == (10_00, 11_00)


@pytest.mark.parametrize(
    ("limit", "amounts", "expected"),
    [
        (0, [1_00], ["LIMIT_EXCEEDED"]),  # an explicit 0 is a limit, not the default
        (25_00, [25_00, 1], ["accepted", "LIMIT_EXCEEDED"]),  # up to the limit exactly
        (25_00, [20_00, 10_00, 5_00], ["accepted", "LIMIT_EXCEEDED", "accepted"]),
    ],
)
@pytest.mark.parametrize("together", [True, False], ids=["one-batch", "batch-each"])
def test_the_daily_limit_counts_each_days_amounts(
    s: Services, limit: int, amounts: list[int], expected: list[str], together: bool
) -> None:
    payer = s.client(funds=1_000_00, fee=1_00, daily_limit=limit)
    if together:
        with one_batch(s.engine, s.db, payer):
            futures = [
                s.cash_outs.submit(payer, f"k-{n}", request(a)) for n, a in enumerate(amounts)
            ]
        outcomes = [f.result(5).outcome for f in futures]
        got = ["accepted" if isinstance(o, Accepted) else o.error.code for o in outcomes]
    else:
        got = [code_of(s, payer.id, f"k-{n}", a) for n, a in enumerate(amounts)]
    assert got == expected
    used = sum(a for a, e in zip(amounts, expected, strict=True) if e == "accepted")
    assert s.db.committed.daily_usage.get((payer.id, date(2026, 3, 10)), 0) == used


def test_the_day_is_sao_paulos(s: Services) -> None:
    payer = s.client(funds=1_000_00, daily_limit=10_00)
    s.clock.advance(hours=11, minutes=59)  # 23:59 on the 10th in São Paulo, 02:59 UTC
    assert s.clock.now().astimezone(UTC).date() == date(2026, 3, 11)
    assert code_of(s, payer.id, "late", 10_00) == "accepted"
    assert code_of(s, payer.id, "later", 1) == "LIMIT_EXCEEDED"  # still the 10th there
    s.clock.advance(minutes=1)  # midnight in São Paulo: a new day, a new allowance
    assert code_of(s, payer.id, "next-day", 10_00) == "accepted"
    assert s.db.committed.daily_usage == {
        (payer.id, date(2026, 3, 10)): 10_00,
        (payer.id, date(2026, 3, 11)): 10_00,
    }


def test_a_reference_is_used_once_per_client(s: Services) -> None:
    payer, other = s.client(funds=100_00), s.client(funds=100_00)
    assert code_of(s, payer.id, "a", 1_00, "invoice-1") == "accepted"
    assert code_of(s, payer.id, "b", 1_00, "invoice-1") == "DUPLICATE_EXTERNAL_REFERENCE"
    assert code_of(s, other.id, "c", 1_00, "invoice-1") == "accepted"  # another client's own
    # Even a refused request keeps no reference: it can be used again.
    assert code_of(s, payer.id, "d", 1_000_00, "invoice-2") == "INSUFFICIENT_BALANCE"
    assert code_of(s, payer.id, "e", 1_00, "invoice-2") == "accepted"


def test_a_client_reads_its_own_cash_outs_only(s: Services) -> None:
    payer, other = s.client(funds=100_00), s.client(funds=100_00)
    decided = s.cash_outs.create(payer, "k", request(1_00, "mine"))
    assert isinstance(decided.outcome, Accepted)
    code = decided.outcome.result.internal_code
    assert s.cash_outs.get(payer, code).id == decided.outcome.result.id
    assert s.cash_outs.find(payer, "mine").internal_code == code
    for read in (lambda: s.cash_outs.get(other, code), lambda: s.cash_outs.find(other, "mine")):
        with pytest.raises(NotFound):
            read()
    with pytest.raises(NotFound):
        s.cash_outs.get(payer, "NOSUCHCODE")
