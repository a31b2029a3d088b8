"""``cash_outs.create_many`` against a scripted transport, on both clients: one signed
POST /cash-out/batch under one key that its retries reuse, and each item's answer in
its place, an ``AcceptedCashOut`` or the error ``cash_outs.create`` would have raised."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from connectpsp import (
    AcceptedCashOut,
    CashOutItem,
    ConflictError,
    InsufficientBalanceError,
    ValidationError,
)
from tests.unit.test_sdk import ACCEPTED, PAYEE, Script, call, error, run
from tests.unit.test_sdk import kind as kind  # the fixture: both clients

ITEMS = [
    CashOutItem("50.00", "r1", PAYEE, description="Saque"),
    CashOutItem("60.00", "r2", PAYEE, webhook_url="https://example.com/hook"),
    CashOutItem("1.00", "r3", {"name": "Ana", "document": "1", "destination": {}}),
]


def refused(status: int, code: str, details: Any = None) -> dict[str, Any]:
    return {"status": status, "error": {"code": code, "message": code.lower(), "details": details}}


ANSWER = {
    "results": [
        {"status": 202, "cashOut": ACCEPTED},
        refused(422, "INSUFFICIENT_BALANCE"),
        refused(400, "VALIDATION_ERROR", [{"field": "items[2].payee.document", "message": "x"}]),
    ]
}


def test_one_signed_request_and_each_items_answer_in_its_place(kind: str) -> None:
    script = Script(error(503, "SERVICE_UNAVAILABLE"), httpx.Response(200, json=ANSWER))
    sleeps: list[float] = []

    async def steps(psp: Any) -> Any:
        return await call(psp.cash_outs.create_many(ITEMS, idempotency_key="batch-1"))

    results = run(kind, script, steps, sleeps)
    accepted, short, bad = results
    assert isinstance(accepted, AcceptedCashOut) and accepted.internal_code == "ABCDEFGHIJ"
    assert isinstance(short, InsufficientBalanceError) and short.http_status == 422
    assert isinstance(bad, ValidationError) and bad.details[0]["field"].startswith("items[2]")
    # Retried after the 503 with the same key: the server replays, never pays twice.
    assert [r.url.path for r in script.requests] == ["/cash-out/batch"] * 2
    assert {r.headers["x-idempotency-key"] for r in script.requests} == {"batch-1"}
    request = script.requests[0]
    expected = hmac.new(b"ct", b"tok-1", hashlib.sha256).hexdigest()
    assert request.headers["digitalsignature"] == expected
    body = json.loads(request.content)
    assert [i["externalReference"] for i in body["items"]] == ["r1", "r2", "r3"]
    assert body["items"][0]["amount"] == "50.00" and body["items"][0]["description"] == "Saque"
    assert body["items"][1]["webhookUrl"] == "https://example.com/hook"
    assert "description" not in body["items"][1]


def test_a_whole_batch_refusal_is_raised(kind: str) -> None:
    script = Script(error(422, "IDEMPOTENCY_KEY_MISMATCH"))

    async def steps(psp: Any) -> Any:
        return await call(psp.cash_outs.create_many(ITEMS[:1]))

    with pytest.raises(ConflictError):
        run(kind, script, steps)


@pytest.mark.parametrize(
    ("items", "kind_of_error"),
    [
        ([], ValueError),
        ([ITEMS[0]] * 1001, ValueError),
        ([{"amount": "1.00"}], TypeError),
        ([CashOutItem(12.5, "r", PAYEE)], TypeError),  # type: ignore[arg-type]
        ([CashOutItem("1.001", "r", PAYEE)], ValueError),
    ],
)
def test_what_is_refused_before_anything_is_sent(
    kind: str, items: list[Any], kind_of_error: type[Exception]
) -> None:
    script = Script()

    async def steps(psp: Any) -> Any:
        return await call(psp.cash_outs.create_many(items))

    with pytest.raises(kind_of_error):
        run(kind, script, steps)
    assert script.requests == []
