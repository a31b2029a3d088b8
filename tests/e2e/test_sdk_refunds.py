"""The SDK's refunds against the real server and its worker on loopback, on SQLite and
PostgreSQL, with both clients: a payment refunded in two parts, each waited for until
COMPLETED, the one past it refused; a refund SPI rejects (a payer whose account closed);
one whose first answer SPI loses; the 90-day window and an unpaid charge; and the
webhooks the refunds deliver, read with ``connectpsp.webhooks.verify`` as typed events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectpsp import (
    InsufficientBalanceError,
    PaymentNotFoundError,
    Refund,
    RefundExceedsPaymentError,
    RefundFailure,
    RefundWindowClosedError,
    ValidationError,
    webhooks,
)
from connectpsp.domain.ledger import FeePlan
from tests.e2e.test_sdk import call, run_with
from tests.invariants import cash_in_problems, ledger_problems
from tests.receiver import Received, receiver
from tests.support import Api, RunningServer, new_merchant

CASH_IN_FEE = FeePlan(fixed=20)  # 0.20 a Pix received
CLOSED = {"name": "Conta Encerrada", "document": "07000000112", "ispb": "60701190"}
LOST_ANSWER = {"name": "Resposta Perdida", "document": "07000000384", "ispb": "18236120"}


@pytest.fixture
def merchant(settling_server: RunningServer) -> Iterator[Api]:
    m = new_merchant(settling_server, cash_in_fee=CASH_IN_FEE, document="11144477735")
    yield m
    m.close()


async def settled(psp: Any, refund: Refund, timeout: float = 15) -> Refund:
    """The refund once the worker has SPI's answer: COMPLETED or FAILED."""
    deadline = time.monotonic() + timeout
    while True:
        now: Refund = await call(psp.refunds.get(refund.refund_id))
        if now.is_final:
            return now
        assert time.monotonic() < deadline, f"refund {refund.refund_id} still {now.status}"
        await asyncio.sleep(0.02)


async def available(psp: Any) -> Decimal:
    return Decimal((await call(psp.balance.get())).available)


async def paid_charge(psp: Any, amount: str, **pay: Any) -> tuple[str, str]:
    """A dynamic charge of ``amount`` paid by the sandbox payer: (internal code, e2e)."""
    webhook_url = pay.pop("webhook_url", None)
    charge = await call(
        psp.cash_ins.create(amount, f"sdk-refund-{time.monotonic_ns()}", webhook_url=webhook_url)
    )
    e2e = await call(psp.sandbox.pay(br_code=charge.br_code, **pay))
    return charge.internal_code, e2e


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_a_payment_is_refunded_in_two_parts_and_no_more(merchant: Api, async_: bool) -> None:
    async def flow(psp: Any) -> None:
        code, e2e = await paid_charge(psp, "10.00")
        before = await available(psp)
        first = await call(
            psp.cash_ins.refund(code, "4.00", description="Devolução parcial", idempotency_key="r1")
        )
        assert (first.status, first.reason, first.amount) == (
            "PROCESSING",
            "ORIGINAL",
            Decimal("4.00"),
        )
        assert (first.internal_code, first.end_to_end_id, first.description) == (
            code,
            e2e,
            "Devolução parcial",
        )
        assert first.return_id.startswith("D") and len(first.return_id) == 32
        assert first.requested_at.utcoffset() == timedelta(hours=-3)
        assert first.completed_at is None and first.failure is None
        again = await call(
            psp.cash_ins.refund(code, "4.00", description="Devolução parcial", idempotency_key="r1")
        )
        assert again == first  # the same refund, reserved once
        done = await settled(psp, first)
        assert done.status == "COMPLETED" and done.completed_at is not None
        assert await available(psp) == before - Decimal("4.00")  # the fee is not given back

        with pytest.raises(InsufficientBalanceError):  # 5.80 available, 6.00 left to refund
            await call(psp.cash_ins.refund(code, "6.00"))
        merchant.server.container.clients.fund(merchant.creds.client_id, 1_00)
        rest = await call(
            psp.cash_ins.refund(code, Decimal("6.00"), end_to_end_id=e2e, reason="WITHDRAWAL")
        )
        with pytest.raises(RefundExceedsPaymentError) as over:
            await call(psp.cash_ins.refund(code, "0.01"))
        assert over.value.details == {"refundable": "0.00"}
        assert (await settled(psp, rest)).status == "COMPLETED"
        assert await available(psp) == before - Decimal("9.00")

        (payment,) = (await call(psp.cash_ins.get(code))).payments
        assert payment.refunds == (done, await call(psp.refunds.get(rest.refund_id)))
        assert [r.reason for r in payment.refunds] == ["ORIGINAL", "WITHDRAWAL"]
        assert payment.refundable == Decimal("0.00")

    run_with(merchant, async_, flow)
    assert ledger_problems(merchant.server.container.db) == []
    assert cash_in_problems(merchant.server.container.db) == []


def test_a_refund_spi_rejects_fails_and_its_money_comes_back(merchant: Api) -> None:
    async def flow(psp: Any) -> None:
        code, _ = await paid_charge(psp, "5.00", payer=CLOSED)
        before = await available(psp)
        failed = await settled(psp, await call(psp.cash_ins.refund(code, "3.00")))
        assert failed.status == "FAILED" and failed.completed_at is not None
        assert failed.failure == RefundFailure(
            "ACCOUNT_CLOSED", "The payee's account is closed.", "AC07"
        )
        assert await available(psp) == before  # the reservation came back
        (payment,) = (await call(psp.cash_ins.get(code))).payments
        assert payment.refunds == (failed,) and payment.refundable == Decimal("5.00")

    run_with(merchant, True, flow)


def test_a_refund_whose_first_answer_spi_loses_still_completes_once(merchant: Api) -> None:
    async def flow(psp: Any) -> None:
        code, _ = await paid_charge(psp, "3.00", payer=LOST_ANSWER)
        before = await available(psp)
        done = await settled(psp, await call(psp.cash_ins.refund(code, "2.00")))
        assert done.status == "COMPLETED"
        assert await available(psp) == before - Decimal("2.00")

    run_with(merchant, False, flow)
    assert ledger_problems(merchant.server.container.db) == []


def test_the_90_day_window_and_what_cannot_be_refunded(merchant: Api) -> None:
    now = merchant.server.clock.now()

    async def flow(psp: Any) -> None:
        late, _ = await paid_charge(psp, "2.00", paid_at=now - timedelta(days=90, minutes=1))
        with pytest.raises(RefundWindowClosedError) as closed:
            await call(psp.cash_ins.refund(late, "1.00"))
        assert set(closed.value.details) == {"paidAt", "refundableUntil"}
        in_time, _ = await paid_charge(psp, "2.00", paid_at=now - timedelta(days=89))
        refund = await call(psp.cash_ins.refund(in_time, "1.00"))
        assert (await settled(psp, refund)).status == "COMPLETED"

        unpaid = await call(psp.cash_ins.create("1.00", "sdk-refund-unpaid"))
        with pytest.raises(PaymentNotFoundError):
            await call(psp.cash_ins.refund(unpaid.internal_code, "1.00"))
        static = await call(psp.cash_ins.create(None, "sdk-refund-static", type="STATIC"))
        for _ in range(2):
            await call(psp.sandbox.pay(br_code=static.br_code, amount="1.00"))
        with pytest.raises(ValidationError) as which:
            await call(psp.cash_ins.refund(static.internal_code, "1.00"))
        assert which.value.details[0]["field"] == "endToEndId"

    run_with(merchant, True, flow)


def test_the_refund_webhooks_verify_as_typed_events(settling_server: RunningServer) -> None:
    """REFUND_COMPLETED and REFUND_FAILED to the charge's webhookUrl (signed with the
    client's webhookSecret), and the CashInRefund movements to the registered endpoint
    (with its own secret), as the worker delivers them."""
    m = new_merchant(settling_server, cash_in_fee=CASH_IN_FEE)
    clock = settling_server.clock

    def verified(received: Received, secret: str) -> webhooks.Event:
        return webhooks.verify(received.body, received.headers, secret, now=clock.now())

    with receiver() as hook:

        async def flow(psp: Any) -> None:
            endpoint = await call(psp.webhooks.create(f"{hook.url}/account"))
            assert {"REFUND_COMPLETED", "REFUND_FAILED"} <= set(endpoint.events)
            own = f"{hook.url}/own"
            code, e2e = await paid_charge(psp, "10.00", webhook_url=own)
            closed, closed_e2e = await paid_charge(psp, "5.00", webhook_url=own, payer=CLOSED)
            hook.wait_for(4)  # each payment's CASHIN_COMPLETED and CashIn movement
            done = await settled(psp, await call(psp.cash_ins.refund(code, "4.00")))
            failed = await settled(psp, await call(psp.cash_ins.refund(closed, "3.00")))
            got = hook.wait_for(8)

            refunds = [r for r in got if r.path == "/own" and "REFUND" in r.json()["eventType"]]
            events = {type(e): e for e in (verified(r, m.creds.webhook_secret) for r in refunds)}
            completed = events[webhooks.RefundCompleted]
            assert isinstance(completed, webhooks.RefundCompleted)
            assert completed.refund == done  # the refund, as GET reads it
            rejected = events[webhooks.RefundFailed]
            assert isinstance(rejected, webhooks.RefundFailed)
            assert rejected.refund == failed and rejected.refund.failure is not None
            assert rejected.refund.failure.reason == "AC07"

            account = [
                r for r in got if r.path == "/account" and r.json()["event"] == "CashInRefund"
            ]
            moves = {
                x.original_end_to_end_id: x
                for x in (verified(r, endpoint.secret) for r in account)
                if isinstance(x, webhooks.CashInRefundMovement)
            }
            assert set(moves) == {e2e, closed_e2e}
            confirmed, error = moves[e2e], moves[closed_e2e]
            assert confirmed.confirmed and not error.confirmed
            assert (confirmed.transaction_id, confirmed.end_to_end_id) == (
                done.refund_id,
                done.return_id,
            )
            assert (confirmed.final_amount, confirmed.reason, confirmed.internal_code) == (
                Decimal("4.00"),
                "MD06",
                code,
            )
            assert confirmed.counterpart.document == "***.982.247-**"
            assert (error.error_code, error.final_amount) == ("ACCOUNT_CLOSED", Decimal("3.00"))
            assert error.end_to_end_id == failed.return_id

        run_with(m, False, flow)
    m.close()
