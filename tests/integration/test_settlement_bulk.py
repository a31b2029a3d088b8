"""Settlement's writes in bulk, on SQLite and PostgreSQL: the statements that mark,
finish, end and defer a batch's cash-outs and jobs keep each row's conditions (once
only, only while PROCESSING); the moments they write read back and compare as
SQLAlchemy's own; the simulated SPI takes a batch in one insert and tells a repeat from
a new payment; and settling a batch costs the same statements however many it holds."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from connectpsp.adapters.rails.simulated import LOST_RESPONSE_ACCOUNT
from connectpsp.adapters.storage import schema as t
from connectpsp.bootstrap import Container
from connectpsp.domain.cashout import CashOutStatus, Creditor
from connectpsp.domain.pix import AccountType
from connectpsp.domain.spi import PIX_KEY_NOT_FOUND, ReasonCode, failure_for
from connectpsp.service.cashouts import SETTLE_TOPIC
from connectpsp.service.rail import PaymentOrder, RailState
from tests.integration.test_settlement import (
    MARIA,
    accept_many,
    job_of,
    only_due,
    status_of,
    stored,
)
from tests.invariants import settlement_problems
from tests.statements import WatchStatements
from tests.support import FakeClock


@pytest.fixture
def clock(container: Container) -> FakeClock:
    assert isinstance(container.clock, FakeClock)
    return container.clock


def test_marking_and_finishing_in_bulk_keep_each_rows_conditions(
    container: Container, clock: FakeClock
) -> None:
    _, (a, b, c) = accept_many(container, 3)
    now = clock.now().replace(microsecond=0)  # a whole second: SQLite's odd case
    with container.uow(write=True) as uow:
        found = uow.cash_outs.by_ids([a, b, c])
        sent = {i: found[i].submit(MARIA, now) for i in (a, b, c)}
        assert uow.cash_outs.mark_submitted_many([sent[a], sent[b]], now) == {a, b}
        assert uow.cash_outs.mark_submitted_many(list(sent.values()), now) == {c}  # once
        done = sent[a].complete("E00416968202603101827bulkAAAAAAA", now)
        failed = sent[b].fail(failure_for("X" * 40), "X" * 40)  # longer than the column
        moves = [done, failed]
        # Sent to the rail: not to be failed as never sent.
        assert uow.cash_outs.finish_many(moves, at=now, unsubmitted_only=True) == set()
        assert uow.cash_outs.finish_many(moves, at=now) == {a, b}
        assert uow.cash_outs.finish_many(moves, at=now) == set()  # once only
        uow.commit()
    with container.db.transaction(write=False) as tx:
        o = t.cash_outs.c
        # Written by hand, found by SQLAlchemy's own binding of the same moment.
        same = tx.conn.execute(
            select(func.count()).where(o.submitted_at == now, o.updated_at == now)
        ).scalar_one()
    assert same == 3
    row = stored(container, a)
    assert (row.status, row.paid_at, row.end_to_end_id) == ("COMPLETED", now, done.end_to_end_id)
    assert (row.creditor_document, row.creditor_account_type) == (MARIA.document, "PAYMENT")
    row = stored(container, b)
    assert (row.status, row.failure_code, row.spi_reason_code) == (
        "FAILED",
        "PAYMENT_FAILED",
        "X" * len(row.spi_reason_code),
    )
    assert 0 < len(row.spi_reason_code) < 40
    assert status_of(container, c) is CashOutStatus.PROCESSING


def test_an_unsent_cash_out_is_failed_in_bulk_once(container: Container, clock: FakeClock) -> None:
    _, (a, b) = accept_many(container, 2)
    with container.uow(write=True) as uow:
        found = uow.cash_outs.by_ids([a, b])
        uow.cash_outs.mark_submitted_many([found[b].submit(MARIA, clock.now())], clock.now())
        refused = [found[i].fail(PIX_KEY_NOT_FOUND) for i in (a, b)]
        assert uow.cash_outs.finish_many(refused, at=clock.now(), unsubmitted_only=True) == {a}
        uow.commit()
    assert status_of(container, a) is CashOutStatus.FAILED
    assert status_of(container, b) is CashOutStatus.PROCESSING


def test_jobs_end_and_are_put_off_in_bulk(container: Container, clock: FakeClock) -> None:
    _, ids = accept_many(container, 3)
    only_due(container, clock, ids)
    with container.uow(write=True) as uow:
        now = clock.now()
        jobs = uow.outbox.claim(
            SETTLE_TOPIC, now=now, lease_until=now + timedelta(minutes=1), limit=10
        )
        assert sorted(j.ref for j in jobs) == sorted(ids)
        first, second, third = (next(j for j in jobs if j.ref == i) for i in ids)
        later = now.replace(microsecond=0) + timedelta(seconds=5)
        uow.outbox.defer_many([(first.id, later, True), (second.id, later, False)])
        uow.outbox.finish_many([third.id], at=now)
        uow.commit()
    assert (job_of(container, ids[0]).failures, job_of(container, ids[1]).failures) == (1, 0)
    assert job_of(container, ids[0]).available_at == later
    assert job_of(container, ids[2]).done_at == now
    for lease, expected in ((timedelta(seconds=4), []), (timedelta(seconds=5), ids[:2])):
        with container.uow(write=True) as uow:
            at = now.replace(microsecond=0) + lease
            due = uow.outbox.claim(SETTLE_TOPIC, now=at, lease_until=at, limit=10)
            uow.commit()
        assert sorted(j.ref for j in due) == sorted(expected)
        assert all(j.attempts == 2 for j in due)


def _order(account: str, ispb: str = "60701190") -> PaymentOrder:
    key = str(uuid.uuid4())
    creditor = Creditor("Ana", "12345678909", ispb, "0001", account, AccountType.CHECKING)
    e2e = f"E00416968202603101827{uuid.uuid4().hex[:11]}"
    return PaymentOrder(key, e2e, 1_00, "00416968", creditor)


def test_the_simulated_spi_takes_a_batch_once_per_key(container: Container) -> None:
    network = container.network
    earlier = _order("123456")
    (first,) = network.submit_many([earlier])
    rejecting = list(ReasonCode).index(ReasonCode.AM02)  # a demo key's account rejects
    orders = [
        _order("654321"),
        _order("9901"),  # a magic account
        _order(f"8{rejecting:03d}", ispb="18236120"),
        _order(LOST_RESPONSE_ACCOUNT),
        earlier,  # a repeat: the first payment's answer
    ]
    answers = network.submit_many(orders)
    assert [a.state for a in answers] == [
        RailState.SETTLED,
        RailState.REJECTED,
        RailState.REJECTED,
        RailState.UNKNOWN,
        RailState.SETTLED,
    ]
    assert (answers[1].reason, answers[2].reason) == ("AC03", "AM02")
    assert answers[4] == first
    assert network.status(orders[3].idempotency_key).state is RailState.SETTLED  # taken
    assert network.status(orders[1].idempotency_key) == answers[1]
    assert network.status(str(uuid.uuid4())).state is RailState.NOT_FOUND
    with container.db.transaction(write=False) as tx:
        p = t.sandbox_spi_payments.c
        counts = dict(
            tx.conn.execute(
                select(p.idempotency_key, p.submit_count).where(
                    p.idempotency_key.in_([o.idempotency_key for o in orders])
                )
            ).all()
        )
    assert counts == {o.idempotency_key: 2 if o is earlier else 1 for o in orders}


class Statements(WatchStatements):
    """How many statements run meanwhile on the tables settlement writes."""

    TABLES = ("CASH_OUTS", "OUTBOX", "SANDBOX_SPI_PAYMENTS", "SANDBOX_DICT_KEYS", "TRANSFERS")

    def __init__(self, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(container.db.engine, monkeypatch)
        self.count = 0

    def seen(self, sql: str) -> None:
        if any(f" {table} " in f" {sql} " for table in self.TABLES):
            self.count += 1


def test_settling_a_batch_costs_the_same_statements_whatever_its_size(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = []
    for n in (2, 20):
        _, ids = accept_many(container, n)
        only_due(container, clock, ids)
        with Statements(container, monkeypatch) as seen:
            assert container.settlement.run_due(limit=n) == n
        assert all(status_of(container, i) is CashOutStatus.COMPLETED for i in ids)
        assert settlement_problems(container.db, ids) == []
        assert all(job_of(container, i).done_at is not None for i in ids)
        counts.append(seen.count)
    assert counts[0] == counts[1], counts
