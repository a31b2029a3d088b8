"""POST /cash-out and the reads, through the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import json
import uuid
from typing import Any

import pytest

from connectpsp.domain.ledger import FeePlan
from connectpsp.settings import Settings
from tests.support import RunningServer, cash_out_body, new_merchant, running_server

# Tens of seconds: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow


def error(reply) -> dict[str, Any]:
    body = reply.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


def fields(reply) -> dict[str, str]:
    err = error(reply)
    assert reply.status_code == 400 and err["code"] == "VALIDATION_ERROR"
    return {d["field"]: d["message"] for d in err["details"]}


def test_accepts_and_reserves_amount_plus_fee(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000, fee=FeePlan(fixed=50, bps=100))
    reply = m.cash_out(amount="20.00")
    assert reply.status_code == 202, reply.text
    assert m.balance() == {"available": 79.30, "reserved": 20.70, "blocked": 0.00, "total": 100.00}
    got = m.get(f"/cash-out/{reply.json()['internalCode']}").json()
    assert (got["amount"], got["feeAmount"], got["finalAmount"]) == (20.00, 0.70, 20.70)
    assert got["status"] == "PROCESSING" and got["endToEndId"] is None and got["paidAt"] is None
    assert list(got) == [
        "transactionId",
        "internalCode",
        "externalReference",
        "status",
        "amount",
        "feeAmount",
        "finalAmount",
        "description",
        "payee",
        "endToEndId",
        "failure",
        "requestedAt",
        "paidAt",
        "returnedAmount",
        "returns",
    ]
    assert (got["returnedAmount"], got["returns"]) == (0.0, [])
    assert got["description"] == "User withdrawal" and got["failure"] is None
    assert set(got["payee"]) == {"name", "document", "destination"}
    # Without a description, the key is still there, as null.
    body = cash_out_body()
    del body["description"]
    bare = m.get(f"/cash-out/{m.cash_out(body).json()['internalCode']}").json()
    assert list(bare) == list(got) and bare["description"] is None


def test_find_by_external_reference(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000)
    ref = f"withdrawal-{uuid.uuid4().hex[:8]}"
    created = m.cash_out(reference=ref).json()
    found = m.get("/cash-out", externalReference=ref)
    assert found.status_code == 200
    assert found.json()["internalCode"] == created["internalCode"]
    assert error(m.get("/cash-out", externalReference="nope"))["code"] == "NOT_FOUND"
    # Without it, since lists (issue 17): the list of them, not a 400.
    listed = m.get("/cash-out")
    assert listed.status_code == 200
    assert [i["internalCode"] for i in listed.json()["items"]] == [created["internalCode"]]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"amount": 50.005}, "amount", "at most 2 decimal places"),
        ({"amount": "50.005"}, "amount", "at most 2 decimal places"),
        ({"amount": 0}, "amount", "greater than 0"),
        ({"amount": -1}, "amount", "greater than 0"),
        ({"amount": True}, "amount", "decimal number"),
        ({"amount": None}, "amount", "decimal number"),
        ({"externalReference": ""}, "externalReference", "1 to 64"),
        ({"externalReference": "a" * 65}, "externalReference", "1 to 64"),
        ({"externalReference": "has space"}, "externalReference", "letters, digits"),
        ({"description": "d" * 141}, "description", "140"),
        ({"webhookUrl": "ftp://x.example/hook"}, "webhookUrl", "http or https"),
        ({"webhookUrl": "not a url"}, "webhookUrl", "http or https"),
        ({"unknownField": 1}, "unknownField", "not a recognised field"),
    ],
)
def test_top_level_validation(server: RunningServer, change, field, message) -> None:
    m = new_merchant(server, fund=10_000)
    reply = m.cash_out(cash_out_body(**change))
    assert message in fields(reply)[field]
    assert m.balance()["reserved"] == 0


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        # Beyond decimal's default context: these raised InvalidOperation and Overflow (500).
        ("123456789012345678901234567890.123", "too large"),
        ("1e999999", "too large"),
        ("-1e999999", "greater than 0"),
        ("1e-999999", "at most 2 decimal places"),
        ("1" + "0" * 30 + ".00", "too large"),
    ],
)
def test_extreme_amounts_are_validation_errors(server: RunningServer, literal, message) -> None:
    """The number as written in the JSON text (json= would go through a float)."""
    m = new_merchant(server, fund=10_000)
    raw = json.dumps(cash_out_body(amount="AMOUNT")).replace('"AMOUNT"', literal)
    assert f'"amount": {literal},' in raw
    reply = m.http.post(
        "/cash-out",
        content=raw.encode(),
        headers={**m.headers(), "Content-Type": "application/json"},
    )
    assert message in fields(reply)["amount"]
    assert m.balance()["reserved"] == 0


def test_a_missing_external_reference_is_named(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000)
    body = cash_out_body()
    del body["externalReference"]
    assert fields(m.cash_out(body)) == {"externalReference": "is required"}
    assert m.balance()["reserved"] == 0


PIX: dict[str, Any] = {"type": "PIX", "pixKeyType": "CPF", "pixKey": "12345678909"}
BANK: dict[str, Any] = {
    "type": "BANK_ACCOUNT",
    "bankAccount": {
        "ispb": "18236120",
        "branch": "0001",
        "account": "947710840",
        "accountType": "PAYMENT",
    },
}


@pytest.mark.parametrize(
    ("payee_change", "field"),
    [
        ({"name": ""}, "payee.name"),
        ({"name": "x" * 121}, "payee.name"),
        ({"document": "12345678900"}, "payee.document"),
        ({"document": "123"}, "payee.document"),
        ({"document": "12ABC34501DE36"}, "payee.document"),
        ({"destination": {**PIX, "pixKey": "12345678900"}}, "payee.destination.pixKey"),
        (
            {"destination": {**PIX, "pixKeyType": "EMAIL", "pixKey": "Maria@X.com"}},
            "payee.destination.pixKey",
        ),
        (
            {"destination": {**PIX, "pixKeyType": "PHONE", "pixKey": "11987654321"}},
            "payee.destination.pixKey",
        ),
        (
            {"destination": {**PIX, "pixKeyType": "EVP", "pixKey": "nope"}},
            "payee.destination.pixKey",
        ),
        ({"destination": {**PIX, "pixKeyType": "IBAN"}}, "payee.destination.pixKeyType"),
        ({"destination": {"type": "BOLETO"}}, "payee.destination"),
        ({"destination": {"pixKey": "x"}}, "payee.destination.type"),
        (
            {"destination": {**BANK, "bankAccount": {**BANK["bankAccount"], "ispb": "99999999"}}},
            "payee.destination.bankAccount.ispb",
        ),
        (
            {"destination": {**BANK, "bankAccount": {**BANK["bankAccount"], "ispb": "1823612"}}},
            "payee.destination.bankAccount.ispb",
        ),
        (
            {"destination": {**BANK, "bankAccount": {**BANK["bankAccount"], "branch": "00001"}}},
            "payee.destination.bankAccount.branch",
        ),
        (
            {"destination": {**BANK, "bankAccount": {**BANK["bankAccount"], "account": "12a"}}},
            "payee.destination.bankAccount.account",
        ),
        (
            {"destination": {**BANK, "bankAccount": {**BANK["bankAccount"], "accountType": "X"}}},
            "payee.destination.bankAccount.accountType",
        ),
    ],
)
def test_payee_validation(server: RunningServer, payee_change, field) -> None:
    m = new_merchant(server, fund=10_000)
    body = cash_out_body()
    body["payee"] = {**body["payee"], **payee_change}
    assert field in fields(m.cash_out(body))


def test_valid_destinations_of_every_key_type(server: RunningServer) -> None:
    m = new_merchant(server, fund=100_000)
    for key_type, key in [
        ("CPF", "12345678909"),
        ("CNPJ", "12ABC34501DE35"),
        ("EMAIL", "maria@example.com"),
        ("PHONE", "+5511987654321"),
        ("EVP", "123e4567-e89b-42d3-a456-426614174000"),
    ]:
        reply = m.cash_out(destination={"type": "PIX", "pixKeyType": key_type, "pixKey": key})
        assert reply.status_code == 202, reply.text
    assert m.cash_out(destination=BANK).status_code == 202
    body = cash_out_body()
    body["payee"]["document"] = "12ABC34501DE35"  # an alphanumeric CNPJ payee
    assert m.cash_out(body).status_code == 202


def test_every_bad_field_is_reported_at_once(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000)
    body = cash_out_body(amount="1.001", reference="bad ref")
    body["payee"]["document"] = "1"
    assert {"amount", "externalReference", "payee.document"} <= set(fields(m.cash_out(body)))


def test_per_transaction_limit(server: RunningServer) -> None:
    m = new_merchant(server, fund=100_000, per_transaction_limit=50_00)
    assert "per-transaction limit of R$ 50,00" in fields(m.cash_out(amount="50.01"))["amount"]
    assert m.cash_out(amount="50.00").status_code == 202
    # Reported together with the other bad fields, not after them.
    both = fields(m.cash_out(cash_out_body(amount="50.01", reference="bad ref")))
    assert "per-transaction limit" in both["amount"] and "externalReference" in both


def test_daily_limit(server: RunningServer) -> None:
    m = new_merchant(server, fund=100_000, daily_limit=100_00)
    assert m.cash_out(amount="60.00").status_code == 202
    refused = m.cash_out(amount="40.01")
    assert refused.status_code == 422 and error(refused)["code"] == "LIMIT_EXCEEDED"
    assert m.cash_out(amount="40.00").status_code == 202
    assert m.balance()["reserved"] == 100.00


def test_insufficient_balance_reserves_nothing(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_00, fee=FeePlan(fixed=1))
    refused = m.cash_out(amount="10.00")  # 10.00 + 0.01 fee > 10.00
    assert refused.status_code == 422 and error(refused)["code"] == "INSUFFICIENT_BALANCE"
    assert m.balance() == {"available": 10.00, "reserved": 0.00, "blocked": 0.00, "total": 10.00}
    assert m.cash_out(amount="9.99").status_code == 202
    assert m.balance()["available"] == 0


def test_duplicate_external_reference(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000)
    assert m.cash_out(reference="same-ref").status_code == 202
    again = m.cash_out(reference="same-ref")
    assert again.status_code == 409 and error(again)["code"] == "DUPLICATE_EXTERNAL_REFERENCE"
    assert m.balance()["reserved"] == 10.00
    other = new_merchant(server, fund=10_000)  # references are per client
    assert other.cash_out(reference="same-ref").status_code == 202


def test_idempotent_replay_is_byte_for_byte(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000)
    body, key = cash_out_body(), str(uuid.uuid4())
    first = m.cash_out(body, key=key)
    second = m.cash_out(body, key=key)
    assert first.status_code == second.status_code == 202
    assert first.content == second.content
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert m.balance()["reserved"] == 10.00


def test_idempotent_replay_of_a_refusal(server: RunningServer) -> None:
    m = new_merchant(server, fund=5_00)
    body, key = cash_out_body(amount="10.00"), str(uuid.uuid4())
    first = m.cash_out(body, key=key)
    server.container.clients.fund(m.creds.client_id, 10_00)
    second = m.cash_out(body, key=key)  # the stored answer, not a new attempt
    assert first.status_code == second.status_code == 422
    assert first.content == second.content
    assert second.headers["idempotent-replayed"] == "true"


def test_same_key_other_body_is_a_mismatch(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000)
    key = str(uuid.uuid4())
    assert m.cash_out(cash_out_body(amount="1.00"), key=key).status_code == 202
    other = m.cash_out(cash_out_body(amount="2.00"), key=key)
    assert other.status_code == 422 and error(other)["code"] == "IDEMPOTENCY_KEY_MISMATCH"


def test_keys_are_scoped_per_client(server: RunningServer) -> None:
    a, b = new_merchant(server, fund=10_000), new_merchant(server, fund=10_000)
    key, body = str(uuid.uuid4()), cash_out_body()
    assert a.cash_out(body, key=key).status_code == 202
    reply = b.cash_out(body, key=key)
    assert reply.status_code == 202 and "idempotent-replayed" not in reply.headers


def test_validation_failures_are_not_stored(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000)
    key = str(uuid.uuid4())
    assert m.cash_out(cash_out_body(amount="1.001"), key=key).status_code == 400
    assert m.cash_out(cash_out_body(amount="1.00"), key=key).status_code == 202


def test_idempotency_key_header(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000)
    headers = m.headers()
    del headers["X-Idempotency-Key"]
    missing = m.http.post("/cash-out", json=cash_out_body(), headers=headers)
    assert missing.status_code == 400 and error(missing)["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    too_long = m.cash_out(cash_out_body(), key="k" * 256)
    assert "X-Idempotency-Key" in fields(too_long)
    assert m.cash_out(cash_out_body(), key="k" * 255).status_code == 202


def test_malformed_and_oversized_bodies(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000)
    bad = m.http.post("/cash-out", content=b'{"amount": 50.00,', headers=m.headers())
    assert bad.status_code == 400 and error(bad)["code"] == "INVALID_JSON"
    out_of_range = m.http.post(
        "/cash-out", content=b'{"amount": 1e9999999999999999999}', headers=m.headers()
    )
    assert out_of_range.status_code == 400 and error(out_of_range)["code"] == "INVALID_JSON"
    not_object = m.http.post("/cash-out", content=b"[1, 2]", headers=m.headers())
    assert not_object.status_code == 400 and error(not_object)["code"] == "VALIDATION_ERROR"
    huge = m.http.post("/cash-out", content=b" " * (65 * 1024), headers=m.headers())
    assert huge.status_code == 413 and error(huge)["code"] == "PAYLOAD_TOO_LARGE"

    def chunks():
        for _ in range(70):
            yield b" " * 1024

    streamed = m.http.post("/cash-out", content=chunks(), headers=m.headers())
    assert streamed.status_code == 413 and error(streamed)["code"] == "PAYLOAD_TOO_LARGE"


def test_unknown_routes_and_methods_use_the_error_shape(server: RunningServer) -> None:
    m = new_merchant(server)
    assert error(m.http.get("/nowhere"))["code"] == "NOT_FOUND"
    assert error(m.http.delete("/cash-out"))["code"] == "METHOD_NOT_ALLOWED"


def test_every_response_has_a_request_id(server: RunningServer) -> None:
    m = new_merchant(server)
    assert len(m.http.get("/healthz").headers["x-request-id"]) == 32
    echoed = m.http.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    assert m.http.get("/balance").headers["x-request-id"]


def test_healthz_and_openapi(server: RunningServer) -> None:
    m = new_merchant(server)
    assert m.http.get("/healthz").json() == {"status": "ok"}
    spec = m.http.get("/openapi.json").json()
    assert {"/auth/token", "/cash-out", "/cash-out/{internalCode}", "/balance", "/healthz"} <= set(
        spec["paths"]
    )
    post = spec["paths"]["/cash-out"]["post"]
    headers = {p["name"] for p in post["parameters"] if p["in"] == "header"}
    assert {"Authorization", "ApplicationToken", "DigitalSignature", "X-Idempotency-Key"} <= {
        h if h[0].isupper() else h.title() for h in headers
    }
    assert {"202", "400", "401", "409", "413", "422"} <= set(post["responses"])
    assert all(p["required"] for p in post["parameters"] if p["in"] == "header")
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            # Any route can fail unexpectedly or lose its database (but /livez, which reads
            # none); a body can be too big.
            expected = {"500"} if path == "/livez" else {"500", "503"}
            assert expected <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                assert "413" in operation["responses"], (method, path)
    schemas = spec["components"]["schemas"]
    assert {"CashOutIn", "PayeeIn", "PixDestinationIn", "BankAccountIn", "TokenIn"} <= set(schemas)
    # Response headers: every answer's request id (as the middleware names it), the
    # replay marker, and when to retry.
    sent = m.http.get("/healthz").headers
    assert "x-request-id" in sent  # httpx headers are case-insensitive
    replayed = post["responses"]["202"]["headers"]["Idempotent-Replayed"]
    assert replayed["schema"] == {"type": "string", "enum": ["true"]}
    assert not replayed["required"]
    assert "Idempotent-Replayed" in post["responses"]["422"]["headers"]
    assert "Retry-After" in spec["paths"]["/auth/token"]["post"]["responses"]["429"]["headers"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                headers = answer.get("headers", {})
                assert headers.get("X-Request-Id", {}).get("required"), (method, path, status)
                if status in ("429", "503"):
                    assert headers["Retry-After"]["required"], (method, path, status)
                    assert headers["Retry-After"]["schema"]["type"] == "integer"
    assert m.http.get("/docs").status_code == 200


def test_start_up_leaves_its_objects_out_of_the_collectors_way(db_settings: Settings) -> None:
    """The server freezes what start-up made (gc.freeze): a full collection under load
    then scans only what serving made since, instead of pausing every request for ~100
    ms (BENCHMARKS.md, the p99 at 50% of saturation)."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    with running_server(db_settings):
        assert gc.get_freeze_count() > 10_000
