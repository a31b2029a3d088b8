"""The fakes keep the rules the database keeps, so a use case cannot pass over them and
break on SQLite or PostgreSQL: rollback and serializable commits, the ledger's CHECKs and
its one resolution per pending transfer, unique keys, guarded moves, leases; and they are
what the ports ask for, method by method."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from connectpsp.domain import ledger
from connectpsp.domain.cashout import CashOut
from connectpsp.domain.cashout_acceptance import CashOutBook, decide
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import LedgerViolation, StorageConflict
from connectpsp.domain.ledger import (
    PSP_SETTLEMENT,
    WORLD,
    Book,
    FeePlan,
    client_account_code,
)
from connectpsp.domain.spi import PIX_KEY_NOT_FOUND
from connectpsp.service import ports
from connectpsp.service.cashouts import SETTLE_TOPIC
from connectpsp.service.ports import StoredOutcome
from connectpsp.service.rail import PaymentOrder, Rail, RailState, RailStatus, RailUnavailable
from tests.fakes import MARIA, CheckViolation, FakeDatabase, FakeRail, FixedClock, request

CLOCK = FixedClock()
NOW = CLOCK.now()
ACCOUNT = client_account_code("c1")
CLIENT = Client("c1", "c", FeePlan(fixed=1_00), 1_000_00, 1_000_00, True, NOW, "h", "e", "a", "w")


@pytest.fixture
def db() -> FakeDatabase:
    db = FakeDatabase()
    with db(write=True) as uow:
        uow.clients.add(CLIENT)
        uow.ledger.open_account(ACCOUNT, client_id="c1", no_overdraft=True)
        for code in (PSP_SETTLEMENT, ledger.PSP_FEES, WORLD):
            uow.ledger.open_account(code, client_id=None, no_overdraft=False)
        uow.ledger.record([fund(10_00)])
        uow.commit()
    return db


def fund(amount: int, transfer_id: str = "fund-1") -> ledger.Transfer:
    return ledger.single(
        transfer_id, debit=WORLD, credit=ACCOUNT, amount=amount, code="x", ref=None
    )


def held(amount: int, transfer_id: str) -> ledger.Transfer:
    return ledger.pending(
        transfer_id, debit=ACCOUNT, credit=PSP_SETTLEMENT, amount=amount, code="x", ref=None
    )


def test_what_is_not_committed_is_discarded_and_a_read_never_commits(db: FakeDatabase) -> None:
    def fails_before_its_commit() -> None:
        with db(write=True) as uow:
            uow.ledger.record([fund(5_00, "fund-2")])
            raise RuntimeError("the use case fails")

    with pytest.raises(RuntimeError):
        fails_before_its_commit()
    with db(write=True) as uow:
        uow.ledger.record([fund(5_00, "fund-3")])  # and leaves without a commit
    with db() as uow:
        assert uow.ledger.balance(ACCOUNT).available == 10_00
        with pytest.raises(AssertionError):
            uow.commit()


def test_a_writer_that_overlaps_a_commit_conflicts(db: FakeDatabase) -> None:
    with db(write=True) as first:
        with db(write=True) as second:
            second.ledger.record([fund(1_00, "fund-2")])
            second.commit()
        first.ledger.record([fund(2_00, "fund-3")])
        with pytest.raises(StorageConflict):
            first.commit()
    with db() as uow:  # the second's, and nothing of the first's
        assert uow.ledger.balance(ACCOUNT).available == 11_00


RESERVED = held(1_00, "p1")
NOWHERE = ledger.single("t", debit="nowhere", credit=ACCOUNT, amount=1, code="x", ref=None)


@pytest.mark.parametrize(
    ("steps", "error"),
    [
        ([held(6_00, "p1"), held(5_00, "p2")], CheckViolation),  # 11.00 from 10.00
        ([RESERVED, ledger.void(RESERVED, "v1")], None),
        ([ledger.void(held(1_00, "nowhere"), "v1")], LedgerViolation),
        ([RESERVED, ledger.post(RESERVED, "a"), ledger.void(RESERVED, "b")], LedgerViolation),
        ([fund(1_00, "fund-1")], StorageConflict),  # the funding's id, taken
        ([NOWHERE], LedgerViolation),
    ],
    ids=["overdraft", "resolve-once", "no-such-pending", "resolve-twice", "id-taken", "no-account"],
)
def test_the_ledger_records_all_or_nothing_by_the_databases_rules(
    db: FakeDatabase, steps: list[ledger.Transfer], error: type[Exception] | None
) -> None:
    with db(write=True) as uow:
        before = uow.ledger.balance(ACCOUNT), len(uow.tables.transfers)
        if error is None:
            uow.ledger.record(steps)
            assert len(uow.tables.transfers) == before[1] + len(steps)
        else:
            with pytest.raises(error):
                uow.ledger.record(steps)
            assert (uow.ledger.balance(ACCOUNT), len(uow.tables.transfers)) == before
        assert uow.ledger.summed_balance(ACCOUNT) == uow.ledger.balance(ACCOUNT)


def test_a_pending_transfer_resolves_once_across_transactions(db: FakeDatabase) -> None:
    reserved = held(4_00, "p1")
    with db(write=True) as uow:
        uow.ledger.record([reserved])
        uow.commit()
    with db(write=True) as uow:
        assert uow.ledger.pending(["p1", "fund-1"]) == {"p1": reserved}
        uow.ledger.record([ledger.post(reserved, "post-1")])
        uow.commit()
    with db(write=True) as uow:
        with pytest.raises(LedgerViolation):
            uow.ledger.record([ledger.void(reserved, "void-1")])
        balance = uow.ledger.balance(ACCOUNT)
        assert (balance.available, balance.reserved, balance.total) == (6_00, 0, 6_00)
        settlement = uow.ledger.balance(PSP_SETTLEMENT)  # summed: no running totals
        assert (settlement.credits_posted, settlement.credits_pending) == (4_00, 0)


def accepted(reference: str) -> CashOut:
    book = CashOutBook(Book({ACCOUNT: ledger.Balance(1_000_00, 0, 0)}), set(), {})
    return decide(book, CLIENT, request(1_00, reference), NOW).cash_out


def test_unique_keys_are_the_databases(db: FakeDatabase) -> None:
    first = accepted("ref")
    outcome = StoredOutcome("c1", "k", "f", b"{}")
    writes: list[Callable[[ports.UnitOfWork], None]] = [
        lambda uow: uow.cash_outs.add([accepted("ref")]),  # the client's reference
        lambda uow: uow.cash_outs.add([accepted("r2"), accepted("r2")]),  # twice in one go
        lambda uow: uow.idempotency.store([outcome], at=NOW),
        lambda uow: uow.limits.set_daily(date(2026, 3, 10), {"c1": 2_00}, known=set()),
        lambda uow: uow.clients.add(CLIENT),
    ]
    with db(write=True) as uow:
        uow.cash_outs.add([first])
        uow.idempotency.store([outcome], at=NOW)
        uow.limits.set_daily(date(2026, 3, 10), {"c1": 1_00}, known=set())
        uow.commit()
    for write in writes:
        with db(write=True) as uow, pytest.raises(StorageConflict):
            write(uow)
    with db(write=True) as uow:  # another client's reference, another day's usage
        uow.cash_outs.add([replace(accepted("ref"), client_id="c2")])
        uow.limits.set_daily(date(2026, 3, 11), {"c1": 1_00}, known=set())
        uow.limits.set_daily(date(2026, 3, 10), {"c1": 3_00}, known={"c1"})
        assert uow.limits.lock_daily(["c1", "c2"], date(2026, 3, 10)) == {"c1": 3_00}
        uow.limits.release_daily("c1", date(2026, 3, 10), 4_00)  # more than used: no change
        assert uow.limits.lock_daily(["c1"], date(2026, 3, 10)) == {"c1": 3_00}


def test_a_cash_out_is_sent_once_and_finished_once(db: FakeDatabase) -> None:
    cash_out = accepted("ref")
    with db(write=True) as uow:
        uow.cash_outs.add([cash_out])
        unsent_failure = cash_out.fail(PIX_KEY_NOT_FOUND)
        sent = cash_out.submit(MARIA, NOW)
        assert uow.cash_outs.mark_submitted(sent, NOW)
        assert not uow.cash_outs.mark_submitted(sent, NOW)
        assert not uow.cash_outs.finish(unsent_failure, at=NOW, unsubmitted_only=True)
        done = sent.complete("E1", NOW)
        assert uow.cash_outs.finish(done, at=NOW)
        assert not uow.cash_outs.finish(done, at=NOW)
        assert uow.cash_outs.by_id(cash_out.id) == done
        other = accepted("ref-2")
        uow.cash_outs.add([other])
        with pytest.raises(StorageConflict):  # endToEndIds are unique
            uow.cash_outs.finish(other.complete("E1", NOW), at=NOW)


def test_a_claimed_job_is_leased_and_a_deferred_one_counts_its_failures(db: FakeDatabase) -> None:
    lease = NOW + timedelta(seconds=30)
    with db(write=True) as uow:
        uow.outbox.enqueue(SETTLE_TOPIC, [("a", {"cashOutId": "a"})], available_at=NOW)
        (job,) = uow.outbox.claim(SETTLE_TOPIC, now=NOW, lease_until=lease, limit=10)
        assert (job.ref, job.payload, job.attempts, job.failures) == ("a", {"cashOutId": "a"}, 1, 0)
        assert uow.outbox.claim(SETTLE_TOPIC, now=lease, lease_until=lease, limit=10) == []
        after = lease + timedelta(seconds=1)
        (again,) = uow.outbox.claim(SETTLE_TOPIC, now=after, lease_until=after, limit=10)
        assert again.attempts == 2
        uow.outbox.defer(job.id, until=NOW, failed=True)
        uow.outbox.defer(job.id, until=NOW, failed=True)
        assert uow.outbox.claim(SETTLE_TOPIC, now=NOW, lease_until=NOW, limit=1)[0].failures == 2
        uow.outbox.defer(job.id, until=NOW, failed=False)
        uow.outbox.finish(job.id, at=NOW)
        assert uow.tables.jobs[job.id].failures == 0
        later = NOW + timedelta(days=1)
        assert uow.outbox.claim(SETTLE_TOPIC, now=later, lease_until=later, limit=10) == []


def test_the_rail_pays_once_per_key_and_forgets_what_it_never_took() -> None:
    rail = FakeRail(CLOCK)
    paid: list[str] = []

    def spi(order: PaymentOrder) -> RailStatus:
        paid.append(order.idempotency_key)
        return rail.settle(order)

    rail.spi = spi
    order = PaymentOrder("key-1", "E1", 1_00, "00416968", MARIA)
    first = rail.submit_many([order])
    assert rail.submit_many([order]) == first and first[0].state is RailState.SETTLED
    assert paid == ["key-1"]  # the repeat got the first answer
    rail.spi = lambda o: RailStatus(RailState.UNKNOWN)
    other = PaymentOrder("key-2", "E2", 1_00, "00416968", MARIA)
    assert rail.submit_many([other])[0].state is RailState.UNKNOWN
    assert rail.status("key-2").state is RailState.NOT_FOUND
    rail.down["status"] = 1
    with pytest.raises(RailUnavailable):
        rail.status("key-1")
    assert rail.status("key-1") == first[0]
    assert rail.calls("submit_many") == 3 and rail.calls("status") == 3


PORTS: list[tuple[type[Any], Callable[[Any], object]]] = [
    (ports.ClientRepository, lambda uow: uow.clients),
    (ports.KeyRepository, lambda uow: uow.keys),
    (ports.LedgerRepository, lambda uow: uow.ledger),
    (ports.CashOutRepository, lambda uow: uow.cash_outs),
    (ports.IdempotencyRepository, lambda uow: uow.idempotency),
    (ports.LimitRepository, lambda uow: uow.limits),
    (ports.OutboxRepository, lambda uow: uow.outbox),
    (ports.WebhookRepository, lambda uow: uow.webhooks),
    (ports.UnitOfWork, lambda uow: uow),
    (Rail, lambda uow: FakeRail(CLOCK)),
]


@pytest.mark.parametrize(("port", "fake_of"), PORTS, ids=lambda p: getattr(p, "__name__", ""))
def test_each_fake_has_every_call_of_its_port_with_its_parameters(
    db: FakeDatabase, port: type[Any], fake_of: Callable[[Any], object]
) -> None:
    """What mypy --strict checks where the fakes are passed to the services, at run time
    too: every method of the Protocol, with the same parameters."""
    with db() as uow:
        fake = fake_of(uow)
    calls = [n for n, v in vars(port).items() if callable(v) and not n.startswith("_")]
    calls += ["__enter__", "__exit__"] if port is ports.UnitOfWork else []
    assert calls
    for name in calls:
        wanted = list(inspect.signature(getattr(port, name)).parameters)
        assert list(inspect.signature(getattr(fake, name)).parameters) == wanted[1:], name
