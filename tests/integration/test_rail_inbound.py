"""The rail's inbound side, on the simulated network (SQLite and PostgreSQL): a Pix paid
to us and a payment of ours sent back reach the ``Inbound`` the network is connected to,
and our receipt is the network's answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from connectpsp.adapters.rails.simulated import SimulatedPixNetwork
from connectpsp.bootstrap import Container
from connectpsp.domain.cashout import Creditor
from connectpsp.domain.errors import NotFound, ValidationFailed
from connectpsp.domain.ids import end_to_end_id
from connectpsp.domain.pix import AccountType
from connectpsp.service.rail import (
    IncomingPayment,
    IncomingReturn,
    Payer,
    PaymentOrder,
    RailState,
    Receipt,
)

ISPB = "00416968"
CREDITOR = Creditor(
    "Ana Costa", "98765432100", "18236120", "0001", "555000111", AccountType.PAYMENT
)


class Recorder:
    """An ``Inbound`` that keeps what it is given and answers as told."""

    def __init__(self, answer: Receipt) -> None:
        self.answer = answer
        self.payments: list[IncomingPayment] = []
        self.returns: list[IncomingReturn] = []

    def receive(self, payment: IncomingPayment) -> Receipt:
        self.payments.append(payment)
        return self.answer

    def returned(self, back: IncomingReturn) -> Receipt:
        self.returns.append(back)
        return self.answer


def paid_in(amount: int = 12_34) -> IncomingPayment:
    now = datetime.now(UTC)
    return IncomingPayment(
        end_to_end_id=end_to_end_id("18236120", now, str(uuid.uuid4())),
        amount=amount,
        payer=Payer("Ana Costa", "98765432100", "18236120", "0001", "555000111"),
        key="maria.silva@sandbox.connectpsp.dev",
        txid=None,
        paid_at=now,
    )


def pay_out(container: Container, amount: int) -> str:
    """A payment of ours, settled by the simulated SPI; its endToEndId."""
    e2e = end_to_end_id(ISPB, container.clock.now(), str(uuid.uuid4()))
    order = PaymentOrder(str(uuid.uuid4()), e2e, amount, ISPB, CREDITOR)
    assert container.network.submit(order).state is RailState.SETTLED
    return e2e


def test_with_nothing_connected_an_incoming_pix_is_refused(container: Container) -> None:
    network = SimulatedPixNetwork(  # as built: nothing receives money yet
        container.db,
        clock=container.clock,
        participants=container.participants,
        latency=timedelta(0),
    )
    assert network.pay_in(paid_in()) == Receipt(False, "AC03")


def test_an_incoming_pix_reaches_the_connected_inbound(container: Container) -> None:
    recorder = Recorder(Receipt(True))
    container.network.connect(recorder)
    payment = paid_in()
    assert container.network.pay_in(payment) == Receipt(True)
    assert recorder.payments == [payment]
    recorder.answer = Receipt(False, "AC06")  # our side refuses: the network is told why
    assert container.network.pay_in(paid_in()) == Receipt(False, "AC06")


def test_a_payment_of_ours_sent_back_arrives_as_a_return(container: Container) -> None:
    recorder = Recorder(Receipt(True))
    container.network.connect(recorder)
    e2e = pay_out(container, 50_00)
    assert container.network.send_back(e2e, 20_00, "MD06") == Receipt(True)
    assert container.network.send_back(e2e, 30_00, "BE08") == Receipt(True)
    first, second = recorder.returns
    assert (first.end_to_end_id, first.amount, first.reason) == (e2e, 20_00, "MD06")
    for back in (first, second):
        assert len(back.return_id) == 32 and back.return_id.startswith("D" + CREDITOR.ispb)
    assert first.return_id != second.return_id


def test_only_a_settled_payment_can_be_sent_back_and_never_more_than_it(
    container: Container,
) -> None:
    container.network.connect(Recorder(Receipt(True)))
    with pytest.raises(NotFound):
        container.network.send_back("E" + "0" * 31, 1_00, "MD06")
    e2e = pay_out(container, 10_00)
    for amount in (0, 10_01):
        with pytest.raises(ValidationFailed):
            container.network.send_back(e2e, amount, "MD06")
