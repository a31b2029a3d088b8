"""Refunds of received Pix over in-memory fakes, in milliseconds: accepted against the
payment, the 90-day window and the balance; sent to SPI as a return and ended by its
answer (posted, voided, asked again); two workers on one job. The same against real
databases and the simulated network: tests/e2e/test_refunds.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from connectpsp.domain.cashin import (
    CashIn,
    CashInPayer,
    ChargeRequest,
    ChargeType,
    credit_transfers,
    new_charge,
)
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import InsufficientBalance, NotFound, ValidationFailed
from connectpsp.domain.ledger import PSP_SETTLEMENT
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.refunds import (
    RefundExceedsPayment,
    RefundReason,
    RefundRequest,
    RefundStatus,
    RefundWindowClosed,
    UnknownPayment,
)
from connectpsp.service.acceptance import Accepted, Refused
from connectpsp.service.rail import RailState, RailStatus, RailUnavailable, ReturnOrder
from connectpsp.service.refund_flow import REFUND_TOPIC
from connectpsp.service.refunds import Refunds, RefundSender, register_payloads
from tests.fakes import ISPB, NUBANK, Services, fake_services

PAYER = CashInPayer("Pagador", "52998224725", NUBANK.ispb)


class ScriptedReturns:
    """SPI's returns, answering as a test writes in advance."""

    def __init__(self) -> None:
        self.orders: list[ReturnOrder] = []
        self.answers: list[Callable[[ReturnOrder], RailStatus]] = []

    def send_return(self, order: ReturnOrder) -> RailStatus:
        self.orders.append(order)
        return self.answers.pop(0)(order)


def settled(order: ReturnOrder) -> RailStatus:
    return RailStatus(RailState.SETTLED, order.return_id)


def rejected(order: ReturnOrder) -> RailStatus:
    return RailStatus(RailState.REJECTED, order.return_id, reason="AC07")


def lost(order: ReturnOrder) -> RailStatus:
    raise RailUnavailable("no answer")


class World:
    def __init__(self, s: Services) -> None:
        self.s = s
        register_payloads(s.publisher, ParticipantDirectory([NUBANK]))
        self.rail = ScriptedReturns()
        self.refunds = Refunds(s.db, engine=s.engine, ispb=ISPB)
        self.sender = RefundSender(s.db, rail=self.rail, clock=s.clock, ispb=ISPB)

    def paid(
        self, client: Client, amount: int, *, days_ago: float = 0, fee: int = 0
    ) -> tuple[str, str]:
        """A dynamic charge of ``amount`` paid ``days_ago``: (internalCode, e2e)."""
        now = self.s.clock.now()
        request = ChargeRequest(ChargeType.DYNAMIC, amount, f"r-{uuid.uuid4().hex[:8]}")
        charge = new_charge(client, request, "key@example.com", "psp.example", now)
        e2e = f"E{NUBANK.ispb}202603101500{uuid.uuid4().hex[:11]}"
        paid_at = now - timedelta(days=days_ago)
        cash_in = CashIn(e2e, client.id, charge.id, amount, fee, None, None, PAYER, paid_at, now)
        with self.s.db(write=True) as uow:
            uow.charges.add([charge.paid(now)])
            uow.cash_ins.add(cash_in)
            uow.ledger.record(credit_transfers(cash_in))
            uow.commit()
        return charge.internal_code, e2e

    def refund(self, client: Client, code: str | None, amount: int, **fields: Any) -> Any:
        decided = self.refunds.create(
            client, str(uuid.uuid4()), RefundRequest(code, amount, **fields)
        )
        return decided.outcome

    def money(self, client: Client) -> tuple[int, int]:
        balance = self.s.clients.balance(client.id)
        return balance.available, balance.reserved


@pytest.fixture
def w() -> Iterator[World]:
    with fake_services() as s:
        yield World(s)


def events(w: World) -> list[str]:
    return [e.type for e in w.s.db.published if e.type.startswith("REFUND")]


def test_a_refund_reserves_then_is_posted_when_spi_settles_it(w: World) -> None:
    client = w.s.client()
    code, e2e = w.paid(client, 10_00)
    outcome = w.refund(client, code, 4_00)
    assert isinstance(outcome, Accepted)
    refund = outcome.result
    assert (refund.status, refund.end_to_end_id, refund.amount) == (
        RefundStatus.PROCESSING,
        e2e,
        4_00,
    )
    assert refund.return_id.startswith("D" + ISPB) and len(refund.return_id) == 32
    assert w.money(client) == (6_00, 4_00)
    w.rail.answers = [settled]
    assert w.sender.send_due() == 1
    [order] = w.rail.orders
    assert (order.return_id, order.end_to_end_id, order.amount, order.reason) == (
        refund.return_id,
        e2e,
        4_00,
        "MD06",
    )
    assert order.payer.document == PAYER.document and order.returner_ispb == ISPB
    assert w.money(client) == (6_00, 0)
    assert w.s.db.committed.refunds[refund.id].status is RefundStatus.COMPLETED
    assert w.s.clients.balance(client.id).total == 6_00
    assert events(w) == ["REFUND_COMPLETED"]
    assert w.sender.send_due() == 0  # its job is done


def test_a_rejected_refund_fails_and_its_reservation_comes_back(w: World) -> None:
    client = w.s.client()
    code, _ = w.paid(client, 10_00)
    refund = w.refund(client, code, 10_00, reason=RefundReason.WITHDRAWAL).result
    w.rail.answers = [rejected]
    w.sender.send_due()
    assert w.rail.orders[0].reason == "SL02"
    failed = w.s.db.committed.refunds[refund.id]
    assert (failed.status, failed.failure_reason) == (RefundStatus.FAILED, "AC07")
    assert w.money(client) == (10_00, 0)
    assert events(w) == ["REFUND_FAILED"]
    assert isinstance(w.refund(client, code, 10_00), Accepted)  # all of it may go back


def test_an_answer_that_never_came_is_asked_again_with_the_same_key(w: World) -> None:
    client = w.s.client()
    code, _ = w.paid(client, 5_00)
    refund = w.refund(client, code, 5_00).result
    w.rail.answers = [lost, lambda o: RailStatus(RailState.PENDING, check_again_at=later)]
    later = w.s.clock.now() + timedelta(seconds=30)
    w.sender.send_due()
    assert w.sender.send_due() == 0  # backed off
    w.s.clock.advance(seconds=2)
    w.sender.send_due()
    assert w.s.db.committed.refunds[refund.id].status is RefundStatus.PROCESSING
    assert w.money(client) == (0, 5_00)  # still held while SPI has not answered
    w.s.clock.advance(seconds=30)
    w.rail.answers = [settled]
    w.sender.send_due()
    assert w.s.db.committed.refunds[refund.id].status is RefundStatus.COMPLETED
    assert len({o.idempotency_key for o in w.rail.orders}) == 1 and len(w.rail.orders) == 3


@pytest.mark.parametrize(
    ("case", "refusal"),
    [
        ("more than the payment", RefundExceedsPayment),
        ("past the window", RefundWindowClosed),
        ("another payment", UnknownPayment),
        ("an unpaid charge", UnknownPayment),
        ("more than the balance", InsufficientBalance),
    ],
)
def test_refusals_move_nothing(w: World, case: str, refusal: type[Exception]) -> None:
    client = w.s.client()
    days_ago = 91 if case == "past the window" else 89
    code, _ = w.paid(client, 10_00, days_ago=days_ago, fee=1_00)  # 9.00 available
    amount, fields = 5_00, {}
    if case == "more than the payment":
        assert isinstance(w.refund(client, code, 6_00), Accepted)
    elif case == "another payment":
        fields = {"end_to_end_id": f"E{NUBANK.ispb}202603101500abcdefghijk"}
    elif case == "an unpaid charge":
        request = ChargeRequest(ChargeType.STATIC, None, "never-paid")
        unpaid = new_charge(client, request, "key@example.com", "psp.example", w.s.clock.now())
        with w.s.db(write=True) as uow:
            uow.charges.add([unpaid])
            uow.commit()
        code = unpaid.internal_code
    elif case == "more than the balance":
        amount = 10_00  # all of the payment may go back, but its fee was charged
    before = (w.money(client), len(w.s.db.committed.refunds))
    outcome = w.refund(client, code, amount, **fields)
    assert isinstance(outcome, Refused) and isinstance(outcome.error, refusal), outcome
    assert (w.money(client), len(w.s.db.committed.refunds)) == before


def test_requests_that_name_no_payment_or_charge_are_not_stored(w: World) -> None:
    client = w.s.client()
    code, _ = w.paid(client, 1_00)
    with pytest.raises(NotFound):
        w.refund(client, "ZZZZZZZZZZ", 1_00)
    other = w.s.client()
    with pytest.raises(NotFound):  # another client's charge
        w.refund(other, code, 1_00)
    request = ChargeRequest(ChargeType.STATIC, None, "static")
    static = new_charge(client, request, "key@example.com", "psp.example", w.s.clock.now())
    with w.s.db(write=True) as uow:
        uow.charges.add([static])
        for n in range(2):
            e2e = f"E{NUBANK.ispb}202603101500static{n:05d}"
            now = w.s.clock.now()
            uow.cash_ins.add(
                CashIn(e2e, client.id, static.id, 1_00, 0, None, None, PAYER, now, now)
            )
        uow.commit()
    with pytest.raises(ValidationFailed) as named:
        w.refund(client, static.internal_code, 1_00)
    assert [e.field for e in named.value.errors] == ["endToEndId"]


def test_refunds_decided_in_one_batch_never_pass_the_payment(w: World) -> None:
    client = w.s.client()
    code, _ = w.paid(client, 10_00)
    busy, _ = w.paid(client, 1_00)
    before = w.s.db.write_transactions
    with w.s.db.held() as waiting:
        w.refunds.submit(client, "busy", RefundRequest(busy, 1_00))
        assert waiting.wait(5)  # the writer is held with that one: these three queue
        batch = [
            w.refunds.submit(client, key, RefundRequest(code, amount))
            for key, amount in (("a", 6_00), ("b", 6_00), ("c", 4_00))
        ]
    outcomes = [f.result(5).outcome for f in batch]
    assert w.s.db.write_transactions - before == 2  # the busy one's, then the three's
    assert [type(o).__name__ for o in outcomes] == ["Accepted", "Refused", "Accepted"]
    assert w.money(client) == (0, 11_00)
    jobs = [j for j in w.s.db.committed.jobs.values() if j.topic == REFUND_TOPIC]
    assert len(jobs) == 3


def test_two_workers_on_one_job_end_the_refund_once(w: World) -> None:
    client = w.s.client()
    code, _ = w.paid(client, 3_00)
    refund = w.refund(client, code, 3_00).result
    other = RefundSender(w.s.db, rail=w.rail, clock=w.s.clock, ispb=ISPB)

    def slow_then_settled(order: ReturnOrder) -> RailStatus:
        # The first worker's lease runs out while SPI answers; another takes the job.
        w.s.clock.advance(seconds=31)
        w.rail.answers = [settled]
        assert other.send_due() == 1
        return settled(order)

    w.rail.answers = [slow_then_settled]
    w.sender.send_due()
    assert w.s.db.committed.refunds[refund.id].status is RefundStatus.COMPLETED
    assert w.money(client) == (0, 0) and w.s.clients.balance(client.id).total == 0
    posts = [t for t in w.s.db.committed.transfers.values() if t.pending_id == refund.id]
    assert len(posts) == 1 and posts[0].credit == PSP_SETTLEMENT
    assert events(w) == ["REFUND_COMPLETED"]


def test_a_received_pix_is_refunded_by_its_end_to_end_id_alone(w: World) -> None:
    client, other = w.s.client(), w.s.client()
    code, e2e = w.paid(client, 10_00)
    before = w.money(other)
    theirs = w.refund(other, None, 1_00, end_to_end_id=e2e)  # not a Pix the other received
    assert isinstance(theirs, Refused) and isinstance(theirs.error, UnknownPayment), theirs
    assert w.money(other) == before
    outcome = w.refund(client, None, 4_00, end_to_end_id=e2e)
    assert isinstance(outcome, Accepted), outcome
    assert (outcome.result.internal_code, outcome.result.end_to_end_id) == (code, e2e)
    assert w.refunds.get(client, None, outcome.result.id) == outcome.result
    over = w.refund(client, None, 6_01, end_to_end_id=e2e)  # 6.00 is left
    assert isinstance(over, Refused) and isinstance(over.error, RefundExceedsPayment), over
