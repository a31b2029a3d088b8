"""The SDK's cash-in calls against a scripted transport (httpx.MockTransport): charges,
their QR images, Pix keys and the sandbox payer, each request as the API wants it and
each answer read into frozen models; the refusals mapped to their errors. Every
behaviour runs on both clients."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectpsp import (
    AmountMismatchError,
    APIError,
    CashInPayer,
    CashInPayment,
    Charge,
    ChargeNotPayableError,
    ConflictError,
    ConnectPSPError,
    NotFoundError,
    PaymentRejectedError,
    RegisteredPixKey,
    ValidationError,
)
from tests.unit.test_sdk import KINDS, Script, call, error, run

PAYER = {
    "name": "Pagador Sandbox",
    "document": "***.982.247-**",
    "bank": {"ispb": "60701190", "name": "ITAÚ UNIBANCO S.A.", "code": "341"},
}
PAYMENT = {
    "endToEndId": "E6070119020260310170230abcdEFGH1",
    "amount": 100.0,
    "feeAmount": 1.2,
    "netAmount": 98.8,
    "paidAt": "2026-03-10T14:02:30-03:00",
    "payer": PAYER,
}
CHARGE: dict[str, Any] = {
    "transactionId": "0b7f0c5e-2a43-4f4e-9a37-1c1f4a3f9d11",
    "internalCode": "QRCODEABCD",
    "txid": "k3J9x0aQ2mZ7pL4tR8vW1yB6cD5eF",
    "externalReference": "order-1",
    "type": "DYNAMIC",
    "status": "ACTIVE",
    "amount": 100.0,
    "description": "Pedido 1",
    "brCode": "00020101021226...6304ABCD",
    "pixKey": "5f1c7a2e-8d4b-4c39-9e0a-6b2d3f4e5a61",
    "expiresAt": "2026-03-11T14:00:00-03:00",
    "createdAt": "2026-03-10T14:00:00-03:00",
    "payments": [],
}
PAID = {**CHARGE, "status": "COMPLETED", "payments": [PAYMENT]}
STATIC = {
    **CHARGE,
    "type": "STATIC",
    "amount": None,
    "expiresAt": None,
    "externalReference": "donations",
}
PIX_KEY = {"key": "ana@example.com", "type": "EMAIL", "createdAt": "2026-03-10T14:00:00-03:00"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # not UTF-8, not JSON
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0h1v1H0z"/></svg>'


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def signed(request: httpx.Request) -> bool:
    """The request carries the DigitalSignature of its own bearer token (keyed "ct")."""
    token = request.headers["authorization"].removeprefix("Bearer ")
    expected = hmac.new(b"ct", token.encode(), hashlib.sha256).hexdigest()
    return bool(request.headers.get("digitalsignature") == expected)


def created(body: Any) -> httpx.Response:
    return httpx.Response(201, json=body)


# charges ----------------------------------------------------------------------------------


def test_every_charge_call_sends_its_request_and_reads_its_answer(kind: str) -> None:
    script = Script(
        created(CHARGE),
        created(STATIC),
        httpx.Response(200, json=PAID),
        httpx.Response(200, json=PAID),
        httpx.Response(200, json={**CHARGE, "status": "CANCELLED"}),
    )

    async def steps(psp: Any) -> list[Any]:
        return [
            await call(
                psp.cash_ins.create(
                    Decimal("100.00"),
                    "order-1",
                    description="Pedido 1",
                    expires_in=600,
                    payer={"name": "Ana Costa", "document": "52998224725"},
                    webhook_url="https://example.com/hook",
                )
            ),
            await call(psp.cash_ins.create(None, "donations", type="STATIC")),
            await call(psp.cash_ins.get("QRCODEABCD")),
            await call(psp.cash_ins.find(external_reference="order-1")),
            await call(psp.cash_ins.cancel("QRCODEABCD")),
        ]

    dynamic, static, got, found, cancelled = run(kind, script, steps)
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("POST", "/cash-in"),
        ("POST", "/cash-in"),
        ("GET", "/cash-in/QRCODEABCD"),
        ("GET", "/cash-in"),
        ("DELETE", "/cash-in/QRCODEABCD"),
    ]
    first, second, _, finding, _ = script.requests
    assert json.loads(first.content) == {
        "type": "DYNAMIC",
        "externalReference": "order-1",
        "amount": "100.00",  # a decimal string, never a float
        "description": "Pedido 1",
        "expiresIn": 600,
        "payer": {"name": "Ana Costa", "document": "52998224725"},
        "webhookUrl": "https://example.com/hook",
    }
    assert json.loads(second.content) == {"type": "STATIC", "externalReference": "donations"}
    assert dict(finding.url.params) == {"externalReference": "order-1"}
    assert signed(first) and signed(second)
    keys = [r.headers.get("x-idempotency-key") for r in script.requests]
    assert keys[0] and keys[1] and keys[0] != keys[1]  # one per call
    assert keys[2:] == [None, None, None]  # reads and the DELETE carry none

    assert isinstance(dynamic, Charge) and dynamic.payments == ()
    assert (dynamic.amount, dynamic.type, dynamic.status) == (
        Decimal("100.00"),
        "DYNAMIC",
        "ACTIVE",
    )
    assert dynamic.expires_at == datetime(2026, 3, 11, 17, 0, tzinfo=UTC)
    assert (static.amount, static.expires_at, static.type) == (None, None, "STATIC")
    assert got == found and got.status == "COMPLETED"
    (payment,) = got.payments
    assert payment == CashInPayment(
        "E6070119020260310170230abcdEFGH1",
        Decimal("100.00"),
        Decimal("1.20"),
        Decimal("98.80"),
        datetime(2026, 3, 10, 17, 2, 30, tzinfo=UTC),
        CashInPayer("Pagador Sandbox", "***.982.247-**", "60701190", "ITAÚ UNIBANCO S.A.", "341"),
    )
    assert str(payment.fee_amount) == "1.20"
    assert payment.paid_at.utcoffset() == timedelta(hours=-3)
    assert cancelled.status == "CANCELLED"


def test_a_charge_reuses_its_key_on_every_retry(kind: str) -> None:
    script = Script(
        httpx.ConnectError("refused"),
        error(503, "SERVICE_UNAVAILABLE"),
        error(409, "IDEMPOTENCY_KEY_IN_USE"),
        error(401, "TOKEN_EXPIRED"),
        created(CHARGE),
        created(CHARGE),
        created(CHARGE),
    )
    sleeps: list[float] = []

    async def steps(psp: Any) -> None:
        await call(psp.cash_ins.create("100.00", "order-1"))
        await call(psp.cash_ins.create("100.00", "order-1"))  # a key of its own
        await call(psp.cash_ins.create("100.00", "order-1", idempotency_key="mine"))

    run(kind, script, steps, sleeps, max_retries=3)
    keys = [r.headers["x-idempotency-key"] for r in script.requests]
    assert len(keys) == 7 and len(sleeps) == 3 and script.tokens == 2
    assert len(set(keys[:5])) == 1  # the retries, and the one after the renewal
    assert keys[5] != keys[0] and keys[6] == "mine"
    assert all(signed(r) for r in script.requests)  # the renewed token is signed anew


def test_a_refused_charge_amount_sends_nothing(kind: str) -> None:
    script = Script()

    async def steps(psp: Any) -> None:
        with pytest.raises(TypeError):
            await call(psp.cash_ins.create(100.0, "order-1"))
        with pytest.raises(ValueError, match="2 decimal places"):
            await call(psp.cash_ins.create("1.005", "order-1"))

    run(kind, script, steps)
    assert script.paths == []


def test_ids_and_keys_are_sent_as_one_path_segment(kind: str) -> None:
    script = Script(error(404, "NOT_FOUND"), error(404, "NOT_FOUND"), httpx.Response(204))

    async def steps(psp: Any) -> None:
        with pytest.raises(NotFoundError):
            await call(psp.cash_ins.get("../balance"))
        with pytest.raises(NotFoundError):
            await call(psp.cash_ins.qr_code("A/B"))
        assert await call(psp.pix_keys.delete("+5511987654321")) is None

    run(kind, script, steps)
    assert [r.url.raw_path for r in script.requests] == [
        b"/cash-in/..%2Fbalance",
        b"/cash-in/A%2FB/qrcode.png",
        b"/pix-keys/%2B5511987654321",
    ]


# the QR images ------------------------------------------------------------------------------


def test_the_qr_code_comes_back_as_the_images_bytes(kind: str) -> None:
    script = Script(
        httpx.Response(200, content=PNG, headers={"content-type": "image/png"}),
        httpx.Response(200, content=SVG, headers={"content-type": "image/svg+xml; charset=utf-8"}),
    )

    async def steps(psp: Any) -> tuple[bytes, bytes]:
        png = await call(psp.cash_ins.qr_code("QRCODEABCD"))
        svg = await call(psp.cash_ins.qr_code("QRCODEABCD", format="svg"))
        return png, svg

    png, svg = run(kind, script, steps)
    assert (png, svg) == (PNG, SVG) and type(png) is bytes
    assert [r.url.path for r in script.requests] == [
        "/cash-in/QRCODEABCD/qrcode.png",
        "/cash-in/QRCODEABCD/qrcode.svg",
    ]
    assert [r.headers["accept"] for r in script.requests] == ["image/png", "image/svg+xml"]


def test_a_qr_code_of_another_format_is_refused_before_sending(kind: str) -> None:
    script = Script()

    async def steps(psp: Any) -> None:
        with pytest.raises(ValueError, match="'png' or 'svg'"):
            await call(psp.cash_ins.qr_code("QRCODEABCD", format="gif"))

    run(kind, script, steps)
    assert script.paths == []


@pytest.mark.parametrize(
    "answer",
    [
        lambda: httpx.Response(200, text="<html>a proxy's page</html>"),
        lambda: httpx.Response(200, json={"brCode": "000201"}),
        lambda: httpx.Response(200, content=SVG, headers={"content-type": "image/svg+xml"}),
    ],
    ids=["html", "json", "svg-for-png"],
)
def test_an_answer_that_is_not_the_image_asked_for_is_an_api_error(kind: str, answer: Any) -> None:
    script = Script(answer())
    sleeps: list[float] = []

    async def steps(psp: Any) -> None:
        await call(psp.cash_ins.qr_code("QRCODEABCD"))

    with pytest.raises(APIError) as raised:
        run(kind, script, steps, sleeps)
    assert (raised.value.code, raised.value.http_status) == ("INVALID_RESPONSE", 200)
    assert "expected image/png" in raised.value.message
    assert len(script.requests) == 1 and sleeps == []


def test_a_qr_code_refusal_is_read_as_the_apis_error(kind: str) -> None:
    script = Script(error(404, "NOT_FOUND"), error(503, "SERVICE_UNAVAILABLE"), error(400, "X"))
    sleeps: list[float] = []

    async def steps(psp: Any) -> None:
        with pytest.raises(NotFoundError):
            await call(psp.cash_ins.qr_code("QRCODEABCD"))
        with pytest.raises(ValidationError) as raised:
            await call(psp.cash_ins.qr_code("QRCODEABCD", format="svg"))  # 503, retried, 400
        assert raised.value.request_id == "req-1"

    run(kind, script, steps, sleeps)
    assert len(sleeps) == 1


# Pix keys -----------------------------------------------------------------------------------


def test_every_pix_key_call_sends_its_request_and_reads_its_answer(kind: str) -> None:
    evp = {**PIX_KEY, "key": "5f1c7a2e-8d4b-4c39-9e0a-6b2d3f4e5a61", "type": "EVP"}
    script = Script(
        created(evp),
        created(PIX_KEY),
        httpx.Response(200, json={"items": [evp, PIX_KEY]}),
        httpx.Response(204),
    )

    async def steps(psp: Any) -> list[Any]:
        return [
            await call(psp.pix_keys.register("EVP")),
            await call(psp.pix_keys.register("EMAIL", "ana@example.com")),
            await call(psp.pix_keys.list()),
            await call(psp.pix_keys.delete("ana@example.com")),
        ]

    generated, email, listed, deleted = run(kind, script, steps)
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("POST", "/pix-keys"),
        ("POST", "/pix-keys"),
        ("GET", "/pix-keys"),
        ("DELETE", "/pix-keys/ana@example.com"),
    ]
    assert script.requests[3].url.raw_path == b"/pix-keys/ana%40example.com"
    assert [json.loads(r.content) for r in script.requests[:2]] == [
        {"type": "EVP"},
        {"type": "EMAIL", "key": "ana@example.com"},
    ]
    assert all(signed(r) for r in script.requests[:2])
    assert generated == RegisteredPixKey(
        "EVP", "5f1c7a2e-8d4b-4c39-9e0a-6b2d3f4e5a61", datetime(2026, 3, 10, 17, tzinfo=UTC)
    )
    assert email.key == "ana@example.com" and email.key_type == "EMAIL"
    assert listed == [generated, email] and deleted is None


# the sandbox payer ------------------------------------------------------------------------


def test_the_sandbox_pays_a_code_or_a_key_and_returns_the_end_to_end_id(kind: str) -> None:
    e2e = "E6070119020260310170230abcdEFGH1"
    script = Script(*(created({"endToEndId": e2e}) for _ in range(2)))
    paid_at = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)

    async def steps(psp: Any) -> list[str]:
        return [
            await call(psp.sandbox.pay(br_code="000201...6304ABCD")),
            await call(
                psp.sandbox.pay(
                    pix_key="ana@example.com",
                    amount="2.50",
                    payer={"name": "Ana Costa", "document": "52998224725", "ispb": "60701190"},
                    paid_at=paid_at,
                )
            ),
        ]

    assert run(kind, script, steps) == [e2e, e2e]
    assert [(r.method, r.url.path) for r in script.requests] == [("POST", "/sandbox/pix/pay")] * 2
    assert [json.loads(r.content) for r in script.requests] == [
        {"brCode": "000201...6304ABCD"},
        {
            "pixKey": "ana@example.com",
            "amount": "2.50",
            "payer": {"name": "Ana Costa", "document": "52998224725", "ispb": "60701190"},
            "paidAt": paid_at.isoformat(),
        },
    ]
    assert all("digitalsignature" not in r.headers for r in script.requests)


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({}, "either br_code or pix_key"),
        ({"br_code": "000201", "pix_key": "ana@example.com"}, "either br_code or pix_key"),
        ({"pix_key": "k", "amount": 2.5}, "never floats"),
        ({"pix_key": "k", "amount": "2", "paid_at": datetime(2026, 3, 10)}, "timezone-aware"),
    ],
    ids=["neither", "both", "float", "naive-paid-at"],
)
def test_a_sandbox_payment_the_api_would_refuse_is_refused_before_sending(
    kind: str, arguments: dict[str, Any], says: str
) -> None:
    script = Script()

    async def steps(psp: Any) -> None:
        with pytest.raises((TypeError, ValueError), match=says):
            await call(psp.sandbox.pay(**arguments))

    run(kind, script, steps)
    assert script.paths == []


def test_an_answer_without_an_end_to_end_id_is_an_api_error(kind: str) -> None:
    script = Script(created({"endToEndId": 7}))

    async def steps(psp: Any) -> None:
        await call(psp.sandbox.pay(pix_key="k", amount="1.00"))

    with pytest.raises(APIError) as raised:
        run(kind, script, steps)
    assert raised.value.code == "INVALID_RESPONSE"


# the refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "details", "kind_of_error"),
    [
        (422, "CHARGE_NOT_PAYABLE", {"status": "EXPIRED"}, ChargeNotPayableError),
        (422, "AMOUNT_MISMATCH", {"expected": 1200, "paid": 1199}, AmountMismatchError),
        (422, "PAYMENT_REJECTED", {"reason": "AM09"}, PaymentRejectedError),
        (409, "ILLEGAL_TRANSITION", {"status": "CANCELLED"}, ConflictError),
        (409, "PIX_KEY_ALREADY_REGISTERED", None, ConflictError),
    ],
)
def test_cash_in_refusals_are_their_errors_and_never_retried(
    kind: str, status: int, code: str, details: Any, kind_of_error: type[ConnectPSPError]
) -> None:
    answer = httpx.Response(
        status,
        json={"error": {"code": code, "message": "refused", "details": details}},
        headers={"x-request-id": "req-7"},
    )
    script = Script(answer)
    sleeps: list[float] = []

    async def steps(psp: Any) -> None:
        await call(psp.sandbox.pay(pix_key="k", amount="12.00"))

    with pytest.raises(kind_of_error) as raised:
        run(kind, script, steps, sleeps)
    error_ = raised.value
    assert type(error_) is kind_of_error
    assert (error_.code, error_.http_status, error_.details, error_.request_id) == (
        code,
        status,
        details,
        "req-7",
    )
    assert len(script.requests) == 1 and sleeps == []
