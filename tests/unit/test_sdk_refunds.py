"""The SDK's refunds against a scripted transport: ``psp.cash_ins.refund`` and
``psp.refunds.get`` send what the API wants and read a frozen ``Refund``; a charge's
payments carry their refunds; the refusals are their errors; and the refund webhooks
(REFUND_COMPLETED, REFUND_FAILED and the CashInRefund movement) verify into typed events,
as the server itself renders them, while malformed ones are refused."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectpsp import (
    Charge,
    ConnectPSPError,
    InsufficientBalanceError,
    NotFoundError,
    PaymentNotFoundError,
    Refund,
    RefundExceedsPaymentError,
    RefundFailure,
    RefundWindowClosedError,
    ValidationError,
    WebhookVerificationError,
    webhooks,
)
from tests.unit.test_sdk import KINDS, Script, call, error, run
from tests.unit.test_sdk_cash_in import PAID, PAYMENT, signed
from tests.unit.test_sdk_webhooks import NOW, SECRET, dumps, headers_for

E2E = str(PAYMENT["endToEndId"])
REFUND: dict[str, Any] = {
    "refundId": "3f0c1a52-7d1e-4b8e-9c61-2a5b7d9e0f14",
    "returnId": "D00416968202603101710abcdefghijk",
    "internalCode": "QRCODEABCD",
    "endToEndId": E2E,
    "amount": 40.0,
    "reason": "ORIGINAL",
    "description": "Devolução parcial",
    "status": "PROCESSING",
    "requestedAt": "2026-03-10T14:10:00-03:00",
    "completedAt": None,
    "failure": None,
}
COMPLETED_REFUND = {**REFUND, "status": "COMPLETED", "completedAt": "2026-03-10T14:10:01-03:00"}
FAILED_REFUND = {
    **REFUND,
    "refundId": "9a4e2c17-0b6d-4f3a-8e25-7c1d9b0a6f38",
    "returnId": "D00416968202603101711lmnopqrstuv",
    "amount": 60.0,
    "reason": "WITHDRAWAL",
    "description": None,
    "status": "FAILED",
    "completedAt": "2026-03-10T14:11:01-03:00",
    "failure": {
        "code": "ACCOUNT_CLOSED",
        "message": "The payee's account is closed.",
        "reason": "AC07",
    },
}
REFUND_COMPLETED = {
    "eventType": "REFUND_COMPLETED",
    "eventAt": "2026-03-10T17:10:01Z",
    "data": COMPLETED_REFUND,
}
REFUND_FAILED = {
    "eventType": "REFUND_FAILED",
    "eventAt": "2026-03-10T17:11:01Z",
    "data": FAILED_REFUND,
}
REFUND_MOVEMENT: dict[str, Any] = {
    "event": "CashInRefund",
    "status": "CONFIRMED",
    "transactionType": "PIX",
    "movementType": "DEBIT",
    "transactionId": REFUND["refundId"],
    "externalId": None,
    "endToEndId": REFUND["returnId"],
    "originalEndToEndId": E2E,
    "pixKey": None,
    "feeAmount": 0.0,
    "originalAmount": 40.0,
    "finalAmount": 40.0,
    "processingDate": "2026-03-10T17:10:01.000Z",
    "errorCode": None,
    "errorMessage": None,
    "counterpart": {
        "name": "Pagador Sandbox",
        "document": "***.982.247-**",
        "bank": {"bankISPB": "60701190", "bankName": "ITAÚ UNIBANCO S.A.", "bankCode": "341"},
    },
    "metadata": {"reason": "MD06", "internalCode": "QRCODEABCD"},
}
REFUND_ERROR_MOVEMENT = {
    **REFUND_MOVEMENT,
    "status": "ERROR",
    "errorCode": "ACCOUNT_CLOSED",
    "errorMessage": "The payee's account is closed.",
}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def verified(payload: Any) -> webhooks.Event:
    body = dumps(payload)
    return webhooks.verify(body, headers_for(body), SECRET, now=NOW)


# the calls ----------------------------------------------------------------------------------


def test_any_received_pix_is_refunded_by_its_end_to_end_id_and_read_by_id(kind: str) -> None:
    of_key = {**REFUND, "internalCode": None}
    script = Script(httpx.Response(202, json=of_key), httpx.Response(200, json=of_key))

    async def steps(psp: Any) -> list[Any]:
        return [
            await call(psp.refunds.create(E2E, "40.00", idempotency_key="by-e2e")),
            await call(psp.refunds.get(REFUND["refundId"])),
        ]

    accepted, read = run(kind, script, steps)
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("POST", "/refunds"),
        ("GET", f"/refunds/{REFUND['refundId']}"),
    ]
    sent = script.requests[0]
    assert json.loads(sent.content) == {"amount": "40.00", "reason": "ORIGINAL", "endToEndId": E2E}
    assert signed(sent) and sent.headers["x-idempotency-key"] == "by-e2e"
    assert accepted == read and accepted.internal_code is None


def test_a_refund_is_sent_signed_with_its_key_and_read_back(kind: str) -> None:
    script = Script(
        httpx.Response(202, json=REFUND),
        httpx.Response(202, json={**FAILED_REFUND, "status": "PROCESSING", "failure": None}),
        httpx.Response(200, json=COMPLETED_REFUND),
        httpx.Response(200, json=FAILED_REFUND),
    )

    async def steps(psp: Any) -> list[Any]:
        return [
            await call(
                psp.cash_ins.refund("QRCODEABCD", Decimal("40.00"), description="Devolução parcial")
            ),
            await call(
                psp.cash_ins.refund(
                    "QRCODEABCD",
                    "60.00",
                    end_to_end_id=E2E,
                    reason="WITHDRAWAL",
                    idempotency_key="refund-2",
                )
            ),
            await call(psp.refunds.get(REFUND["refundId"])),
            await call(psp.refunds.get(FAILED_REFUND["refundId"])),
        ]

    accepted, second, done, failed = run(kind, script, steps)
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("POST", "/cash-in/QRCODEABCD/refunds"),
        ("POST", "/cash-in/QRCODEABCD/refunds"),
        ("GET", f"/refunds/{REFUND['refundId']}"),
        ("GET", f"/refunds/{FAILED_REFUND['refundId']}"),
    ]
    first, other = script.requests[:2]
    assert json.loads(first.content) == {
        "amount": "40.00",  # a decimal string, never a float
        "reason": "ORIGINAL",
        "description": "Devolução parcial",
    }
    assert json.loads(other.content) == {
        "amount": "60.00",
        "reason": "WITHDRAWAL",
        "endToEndId": E2E,
    }
    assert signed(first) and signed(other)
    keys = [r.headers.get("x-idempotency-key") for r in script.requests]
    assert keys[0] and keys[1] == "refund-2" and keys[2:] == [None, None]

    assert accepted == Refund(
        refund_id=REFUND["refundId"],
        return_id=REFUND["returnId"],
        internal_code="QRCODEABCD",
        end_to_end_id=E2E,
        amount=Decimal("40.00"),
        reason="ORIGINAL",
        description="Devolução parcial",
        status="PROCESSING",
        requested_at=datetime(2026, 3, 10, 17, 10, tzinfo=UTC),
        completed_at=None,
        failure=None,
    )
    assert str(accepted.amount) == "40.00" and not accepted.is_final
    assert accepted.requested_at.utcoffset() == timedelta(hours=-3)
    assert second.status == "PROCESSING" and second.reason == "WITHDRAWAL"
    assert done.is_final and done.completed_at == datetime(2026, 3, 10, 17, 10, 1, tzinfo=UTC)
    assert failed.is_final and failed.failure == RefundFailure(
        "ACCOUNT_CLOSED", "The payee's account is closed.", "AC07"
    )


def test_a_refund_reuses_its_key_on_every_retry(kind: str) -> None:
    script = Script(
        httpx.ConnectError("refused"),
        error(503, "SERVICE_UNAVAILABLE"),
        error(409, "IDEMPOTENCY_KEY_IN_USE"),
        httpx.Response(202, json=REFUND),
    )
    sleeps: list[float] = []

    async def steps(psp: Any) -> Refund:
        return await call(psp.cash_ins.refund("QRCODEABCD", "40.00"))  # type: ignore[no-any-return]

    assert run(kind, script, steps, sleeps, max_retries=3).refund_id == REFUND["refundId"]
    keys = {r.headers["x-idempotency-key"] for r in script.requests}
    assert len(script.requests) == 4 and len(keys) == 1 and len(sleeps) == 3


def test_a_refund_amount_the_api_would_refuse_sends_nothing(kind: str) -> None:
    script = Script()

    async def steps(psp: Any) -> None:
        with pytest.raises(TypeError):
            await call(psp.cash_ins.refund("QRCODEABCD", 40.0))
        with pytest.raises(ValueError, match="2 decimal places"):
            await call(psp.cash_ins.refund("QRCODEABCD", "0.005"))

    run(kind, script, steps)
    assert script.paths == []


def test_a_refunds_ids_are_sent_as_path_segments(kind: str) -> None:
    script = Script(error(404, "NOT_FOUND"), error(404, "NOT_FOUND"))

    async def steps(psp: Any) -> None:
        with pytest.raises(NotFoundError):
            await call(psp.refunds.get("../../balance"))
        with pytest.raises(NotFoundError):
            await call(psp.cash_ins.refund("A/B", "1.00"))

    run(kind, script, steps)
    assert [r.url.raw_path for r in script.requests] == [
        b"/refunds/..%2F..%2Fbalance",
        b"/cash-in/A%2FB/refunds",
    ]


def test_a_charges_payments_carry_their_refunds_and_what_is_left() -> None:
    charge = Charge.from_json(
        {**PAID, "payments": [{**PAYMENT, "refunds": [COMPLETED_REFUND, FAILED_REFUND, REFUND]}]}
    )
    (payment,) = charge.payments
    assert [r.status for r in payment.refunds] == ["COMPLETED", "FAILED", "PROCESSING"]
    assert payment.refunds[1].failure is not None
    # 100.00 less 40.00 done and 40.00 in process; the failed 60.00 holds nothing.
    assert payment.refundable == Decimal("20.00") and str(payment.refundable) == "20.00"
    assert Charge.from_json(PAID).payments[0].refunds == ()
    assert Charge.from_json(PAID).payments[0].refundable == Decimal("100.00")


@pytest.mark.parametrize(
    ("code", "details", "kind_of_error"),
    [
        ("REFUND_EXCEEDS_PAYMENT", {"refundable": "0.00"}, RefundExceedsPaymentError),
        (
            "REFUND_WINDOW_CLOSED",
            {
                "paidAt": "2025-11-01T10:00:00-03:00",
                "refundableUntil": "2026-01-30T10:00:00-03:00",
            },
            RefundWindowClosedError,
        ),
        ("PAYMENT_NOT_FOUND", {"endToEndId": E2E}, PaymentNotFoundError),
        ("INSUFFICIENT_BALANCE", None, InsufficientBalanceError),
    ],
)
def test_refund_refusals_are_their_errors_and_never_retried(
    kind: str, code: str, details: Any, kind_of_error: type[ConnectPSPError]
) -> None:
    answer = httpx.Response(
        422,
        json={"error": {"code": code, "message": "refused", "details": details}},
        headers={"x-request-id": "req-9"},
    )
    script = Script(answer)
    sleeps: list[float] = []

    async def steps(psp: Any) -> None:
        await call(psp.cash_ins.refund("QRCODEABCD", "1.00"))

    with pytest.raises(kind_of_error) as raised:
        run(kind, script, steps, sleeps)
    assert type(raised.value) is kind_of_error
    assert (raised.value.code, raised.value.http_status, raised.value.details) == (
        code,
        422,
        details,
    )
    assert raised.value.request_id == "req-9"
    assert len(script.requests) == 1 and sleeps == []


def test_a_refund_naming_no_payment_of_a_charge_with_several_is_a_validation_error(
    kind: str,
) -> None:
    details = [{"field": "endToEndId", "message": "required: the charge has several payments"}]
    script = Script(
        httpx.Response(
            400, json={"error": {"code": "VALIDATION_ERROR", "message": "x", "details": details}}
        )
    )

    async def steps(psp: Any) -> None:
        with pytest.raises(ValidationError) as raised:
            await call(psp.cash_ins.refund("QRCODEABCD", "1.00"))
        assert raised.value.details[0]["field"] == "endToEndId"

    run(kind, script, steps)


# the webhooks -------------------------------------------------------------------------------


def test_refund_completed_is_read_as_the_refund_get_reads() -> None:
    event = verified(REFUND_COMPLETED)
    assert isinstance(event, webhooks.RefundCompleted)
    assert (event.webhook_id, event.event_at) == (
        "msg_1",
        datetime(2026, 3, 10, 17, 10, 1, tzinfo=UTC),
    )
    assert event.refund == Refund.from_json(COMPLETED_REFUND)


def test_refund_failed_carries_spis_reason() -> None:
    event = verified(REFUND_FAILED)
    assert isinstance(event, webhooks.RefundFailed)
    assert event.refund == Refund.from_json(FAILED_REFUND)
    assert event.refund.failure == RefundFailure(
        "ACCOUNT_CLOSED", "The payee's account is closed.", "AC07"
    )


def test_the_refund_movement_is_a_debit_confirmed_or_in_error() -> None:
    moved = verified(REFUND_MOVEMENT)
    assert isinstance(moved, webhooks.CashInRefundMovement) and moved.confirmed
    assert (moved.transaction_id, moved.end_to_end_id, moved.original_end_to_end_id) == (
        REFUND["refundId"],
        REFUND["returnId"],
        E2E,
    )
    assert moved.final_amount == Decimal("40.00") and str(moved.final_amount) == "40.00"
    assert (moved.reason, moved.internal_code) == ("MD06", "QRCODEABCD")
    assert moved.processing_date == datetime(2026, 3, 10, 17, 10, 1, tzinfo=UTC)
    assert (moved.counterpart.name, moved.counterpart.bank_code) == ("Pagador Sandbox", "341")
    assert (moved.error_code, moved.error_message) == (None, None)
    failed = verified(REFUND_ERROR_MOVEMENT)
    assert isinstance(failed, webhooks.CashInRefundMovement) and not failed.confirmed
    assert failed.error_code == "ACCOUNT_CLOSED"


def broken(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``payload`` with the field at ``path`` ("data.amount") set to ``value``, or
    removed when ``value`` is ``...``."""
    copied = copy.deepcopy(payload)
    *parents, last = path.split(".")
    target = copied
    for name in parents:
        target = target[name]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return copied


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (
            broken(REFUND_COMPLETED, "data.status", "FAILED"),
            "REFUND_COMPLETED of a refund 'FAILED'",
        ),
        (broken(REFUND_FAILED, "data.status", "PROCESSING"), "of a refund 'PROCESSING'"),
        (broken(REFUND_FAILED, "data.failure", None), "data.failure is not a JSON object"),
        (broken(REFUND_COMPLETED, "data.amount", Decimal("40.001")), "amount is not an amount"),
        (broken(REFUND_COMPLETED, "data.amount", "40.00"), "amount is missing or not a number"),
        (broken(REFUND_COMPLETED, "data.completedAt", None), "completedAt is missing"),
        (broken(REFUND_COMPLETED, "data.refundId", ...), "refundId is missing"),
        (broken(REFUND_COMPLETED, "data.requestedAt", "2026-03-10T14:10:00"), "without a zone"),
        (broken(REFUND_MOVEMENT, "status", "PENDING"), "unknown refund movement status"),
        (broken(REFUND_MOVEMENT, "originalEndToEndId", None), "originalEndToEndId is missing"),
        (broken(REFUND_MOVEMENT, "finalAmount", ...), "finalAmount is missing"),
        (broken(REFUND_MOVEMENT, "counterpart", None), "counterpart is not a JSON object"),
    ],
)
def test_a_malformed_refund_webhook_is_refused(payload: dict[str, Any], says: str) -> None:
    body = dumps(payload)
    with pytest.raises(WebhookVerificationError) as raised:
        webhooks.verify(body, headers_for(body), SECRET, now=NOW)
    assert says in raised.value.message


def test_refund_payloads_rendered_and_signed_by_the_server_verify() -> None:
    """REFUND_COMPLETED, REFUND_FAILED and both CashInRefund movements as the server's
    domain renders them, read by the SDK field for field."""
    from connectpsp.adapters.participants import load_participants
    from connectpsp.api.jsonio import encode
    from connectpsp.domain import refund_payloads as payloads
    from connectpsp.domain import webhooks as server
    from connectpsp.domain.cashin import CashInPayer
    from connectpsp.domain.refunds import Refund as ServerRefund
    from connectpsp.domain.refunds import RefundReason, RefundStatus

    requested = NOW - timedelta(seconds=5)
    processing = ServerRefund(
        id=REFUND["refundId"],
        return_id=REFUND["returnId"],
        client_id="client-1",
        charge_id="charge-1",
        internal_code="QRCODEABCD",
        end_to_end_id=E2E,
        amount=40_00,
        reason=RefundReason.ORIGINAL,
        description="Devolução parcial",
        payer=CashInPayer("Pagador Sandbox", "52998224725", "60701190"),
        status=RefundStatus.PROCESSING,
        requested_at=requested,
    )
    done = processing.complete(NOW)
    failed = processing.fail("AC07", NOW)
    participants = load_participants()
    timestamp = int(NOW.timestamp())
    secret = server.new_webhook_secret()

    def deliver(payload: dict[str, Any]) -> webhooks.Event:
        body = encode(payload)
        headers = {
            "webhook-id": "msg_server",
            "webhook-timestamp": str(timestamp),
            "webhook-signature": server.sign([secret], "msg_server", timestamp, body),
        }
        return webhooks.verify(body, headers, secret, now=NOW)

    completed = deliver(payloads.refund_event(done, NOW))
    assert isinstance(completed, webhooks.RefundCompleted)
    assert completed.refund == Refund.from_json(json.loads(encode(payloads.refund_json(done))))
    assert (completed.refund.amount, completed.refund.status) == (Decimal("40.00"), "COMPLETED")
    assert completed.refund.requested_at == requested and completed.refund.completed_at == NOW
    rejected = deliver(payloads.refund_event(failed, NOW))
    assert isinstance(rejected, webhooks.RefundFailed)
    assert rejected.refund.failure is not None and rejected.refund.failure.reason == "AC07"

    moved = deliver(payloads.refund_movement_event(done, NOW, participants))
    assert isinstance(moved, webhooks.CashInRefundMovement) and moved.confirmed
    assert (moved.end_to_end_id, moved.original_end_to_end_id) == (REFUND["returnId"], E2E)
    assert (moved.final_amount, moved.reason, moved.processing_date) == (
        Decimal("40.00"),
        "MD06",
        NOW,
    )
    assert moved.counterpart.document == "***.982.247-**"
    assert moved.counterpart.bank_name == "ITAÚ UNIBANCO S.A."
    error_ = deliver(payloads.refund_movement_event(failed, NOW, participants))
    assert isinstance(error_, webhooks.CashInRefundMovement) and not error_.confirmed
    assert error_.error_code == "ACCOUNT_CLOSED"
