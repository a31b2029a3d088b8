"""POST /cash-out/batch through the real server, on SQLite and PostgreSQL: each item
answered as POST /cash-out would answer it, in order, one key for the batch."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectpsp import (
    AcceptedCashOut,
    CashOutItem,
    ConflictError,
    ConnectPSP,
    InsufficientBalanceError,
    Payee,
    PixKey,
)
from connectpsp.domain.ledger import FeePlan, client_account_code
from connectpsp.settings import Settings
from tests.invariants import ledger_problems
from tests.support import (
    Api,
    RunningServer,
    cash_out_body,
    database,
    new_merchant,
    running_server,
    wait_terminal,
)


def send(m: Api, items: Any, *, key: str | None = None, **extra: Any) -> httpx.Response:
    body = {"items": items, **extra}
    return m.http.post("/cash-out/batch", json=body, headers=m.headers(key=key))


def statuses(reply: httpx.Response) -> list[int]:
    assert reply.status_code == 200, reply.text
    assert set(reply.json()) == {"results"}
    return [r["status"] for r in reply.json()["results"]]


def field_errors(reply: httpx.Response) -> dict[str, str]:
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return {d["field"]: d["message"] for d in error["details"]}


def test_each_item_is_decided_on_its_own_in_request_order(server: RunningServer) -> None:
    m = new_merchant(server, fund=100_00, fee=FeePlan(fixed=1_00))
    taken = m.cash_out(amount="1.00")  # a single cash-out holds this reference already
    assert taken.status_code == 202
    items = [
        cash_out_body(amount="30.00", reference="b-1"),
        cash_out_body(amount="30.00", reference="b-1"),  # the item before took it
        cash_out_body(amount="70.00", reference="b-2"),  # 71 > 100 - 2 - 31
        cash_out_body(amount="abc", reference="b-3"),  # a bad field
        "not a cash-out",
        cash_out_body(amount="30.00", reference=taken.json()["externalReference"]),
        cash_out_body(amount="30.00", reference="b-4"),  # still room for this one
    ]
    reply = send(m, items)
    assert statuses(reply) == [202, 409, 422, 400, 400, 409, 202]
    results = reply.json()["results"]
    assert "idempotent-replayed" not in reply.headers
    for result in (results[0], results[6]):
        assert set(result) == {"status", "cashOut"}
        assert list(result["cashOut"]) == [
            "transactionId",
            "internalCode",
            "externalReference",
            "status",
            "requestedAt",
        ]
        assert result["cashOut"]["status"] == "PROCESSING"
    codes = [r["error"]["code"] for r in results if r["status"] != 202]
    assert codes == [
        "DUPLICATE_EXTERNAL_REFERENCE",
        "INSUFFICIENT_BALANCE",
        "VALIDATION_ERROR",
        "VALIDATION_ERROR",
        "DUPLICATE_EXTERNAL_REFERENCE",
    ]
    # The holder of a reference taken before the batch is named, as POST /cash-out names it.
    assert results[5]["error"]["details"] == {"internalCode": taken.json()["internalCode"]}
    assert [d["field"] for d in results[3]["error"]["details"]] == ["items[3].amount"]
    assert results[3]["error"]["message"] == "Invalid fields: items[3].amount."
    assert results[4]["error"]["details"][0]["field"] == "items[4]"
    # Only the accepted items moved money: 1 + 1 (the single), 30 + 1 twice.
    assert m.balance() == {"available": 36.00, "reserved": 64.00, "blocked": 0.00, "total": 100.00}
    for result, reference in ((results[0], "b-1"), (results[6], "b-4")):
        got = m.get(f"/cash-out/{result['cashOut']['internalCode']}").json()
        assert (got["externalReference"], got["amount"], got["feeAmount"]) == (reference, 30.0, 1.0)
    for reference in ("b-2", "b-3"):
        assert m.get("/cash-out", externalReference=reference).status_code == 404
    assert ledger_problems(server.container.db) == []


def test_a_replay_is_the_same_bytes_and_another_body_a_mismatch(server: RunningServer) -> None:
    m = new_merchant(server, fund=50_00)
    items = [cash_out_body(amount="20.00"), cash_out_body(amount="40.00")]
    key = str(uuid.uuid4())
    first = send(m, items, key=key)
    assert statuses(first) == [202, 422]
    again = send(m, items, key=key)
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert m.balance()["reserved"] == 20.00  # nothing moved twice
    # The same items as JSON with keys in another order are the same request.
    reordered = m.http.post(
        "/cash-out/batch",
        content=json.dumps({"items": [dict(reversed(i.items())) for i in items]}),
        headers=m.headers(key=key),
    )
    assert reordered.content == first.content
    other = send(m, [items[0]], key=key)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_MISMATCH"
    # A batch's key is a key: a single cash-out under it is another request too.
    single = m.cash_out(items[0], key=key)
    assert single.status_code == 422
    assert single.json()["error"]["code"] == "IDEMPOTENCY_KEY_MISMATCH"
    # And a single cash-out's key refuses a batch.
    used = str(uuid.uuid4())
    assert m.cash_out(cash_out_body(amount="1.00"), key=used).status_code == 202
    assert send(m, [cash_out_body()], key=used).json()["error"]["code"] == (
        "IDEMPOTENCY_KEY_MISMATCH"
    )


def test_an_item_refused_for_a_bad_field_is_stored_with_the_rest(server: RunningServer) -> None:
    m = new_merchant(server, fund=50_00, per_transaction_limit=10_00)
    items = [cash_out_body(amount="5.00"), cash_out_body(amount="11.00")]
    key = str(uuid.uuid4())
    first = send(m, items, key=key)
    assert statuses(first) == [202, 400]
    assert first.json()["results"][1]["error"]["details"] == [
        {
            "field": "items[1].amount",
            "message": "must not exceed the per-transaction limit of R$ 10,00",
        }
    ]
    assert send(m, items, key=key).content == first.content


def test_limits_and_fees_are_a_single_cash_out_s(server: RunningServer) -> None:
    m = new_merchant(server, fund=1_000_00, fee=FeePlan(fixed=50, bps=100), daily_limit=50_00)
    items = [
        cash_out_body(amount="20.00"),
        cash_out_body(amount="20.00"),
        cash_out_body(amount="20.00"),
    ]
    reply = send(m, items)
    assert statuses(reply) == [202, 202, 422]
    assert reply.json()["results"][2]["error"]["code"] == "LIMIT_EXCEEDED"
    assert m.balance()["reserved"] == 41.40  # 2 x (20.00 + 0.50 + 0.20)


def test_what_refuses_the_whole_batch(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_00)
    assert field_errors(send(m, [])) == {"items": "must hold 1 to 1,000 cash-outs, not 0"}
    over = [cash_out_body()] * 1001
    assert field_errors(send(m, over)) == {"items": "must hold 1 to 1,000 cash-outs, not 1,001"}
    assert field_errors(send(m, {"amount": "1.00"})) == {"items": "must be a list of cash-outs"}
    assert field_errors(send(m, [cash_out_body()], extra=1)) == {
        "extra": "is not a recognised field"
    }
    headers = m.headers()
    no_items = m.http.post("/cash-out/batch", json={}, headers=headers)
    assert field_errors(no_items) == {"items": "is required"}
    not_object = m.http.post("/cash-out/batch", json=[cash_out_body()], headers=m.headers())
    assert field_errors(not_object) == {"body": "must be an object with an items list"}
    # A string breaking the text rule is found decoding the whole body: named by item.
    bad_text = cash_out_body(description="a\u202eb")
    assert list(field_errors(send(m, [cash_out_body(), bad_text]))) == ["items[1].description"]
    unsigned = m.headers(sign=False)
    unsigned |= {"X-Idempotency-Key": "k", "Content-Type": "application/json"}
    reply = m.http.post("/cash-out/batch", json={"items": [cash_out_body()]}, headers=unsigned)
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "INVALID_SIGNATURE"
    keyless = {k: v for k, v in m.headers().items() if k != "X-Idempotency-Key"}
    reply = m.http.post("/cash-out/batch", json={"items": [cash_out_body()]}, headers=keyless)
    assert reply.json()["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    # Nothing was accepted by any of them.
    assert m.balance()["reserved"] == 0.0


def test_a_full_batch_is_over_the_single_body_cap_and_fits(server: RunningServer) -> None:
    m = new_merchant(server, fund=1_000_00)
    items = [cash_out_body(amount="0.50", reference=f"full-{i}") for i in range(1000)]
    size = len(json.dumps({"items": items}))
    assert size > server.container.settings.max_body_bytes
    reply = send(m, items)
    assert statuses(reply) == [202] * 1000
    refs = [r["cashOut"]["externalReference"] for r in reply.json()["results"]]
    assert refs == [f"full-{i}" for i in range(1000)]
    assert m.balance()["reserved"] == 500.00
    with server.container.uow() as uow:
        code = client_account_code(m.creds.client_id)
        assert uow.ledger.balance(code) == uow.ledger.summed_balance(code)
    cap = server.container.settings.max_batch_body_bytes
    huge = m.http.post("/cash-out/batch", content=b" " * (cap + 1), headers=m.headers())
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_the_sdk_sends_a_batch_and_reads_each_answer(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_00)
    payee = Payee("Maria Silva", "12345678909", PixKey("CPF", "12345678909"))
    items = [
        CashOutItem("6.00", "sdk-1", payee),
        CashOutItem("6.00", "sdk-2", payee),
        CashOutItem("1.00", "sdk-1", payee),
    ]
    c = m.creds
    args = (server.base_url, c.client_id, c.client_secret, c.crypto_token, c.application_token)
    with ConnectPSP(*args) as psp:
        first = psp.cash_outs.create_many(items, idempotency_key="sdk-batch")
        again = psp.cash_outs.create_many(items, idempotency_key="sdk-batch")
    assert isinstance(first[0], AcceptedCashOut) and first[0].external_reference == "sdk-1"
    assert isinstance(first[1], InsufficientBalanceError)
    assert isinstance(first[2], ConflictError) and first[2].code == "DUPLICATE_EXTERNAL_REFERENCE"
    assert [type(r) for r in again] == [type(r) for r in first]
    assert again[0] == first[0]
    assert m.balance()["available"] == 4.00  # reserved, or paid by now


def test_fraud_checks_and_client_rules_judge_each_item(server: RunningServer) -> None:
    m = new_merchant(server, fund=1_000_00)
    client = server.container.clients.get(m.creds.client_id)
    rules = replace(client.risk, max_cash_outs_per_minute=3)
    server.container.clients.set_risk(m.creds.client_id, rules)
    scammer = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "scammer@sandbox.connectpsp.dev"}
    items = [
        cash_out_body(amount="1.00"),
        cash_out_body(amount="1.00", destination=scammer),  # DICT marks this key
        cash_out_body(amount="1.00"),
        cash_out_body(amount="1.00"),  # the fourth attempt in a minute, refused ones count
        cash_out_body(amount="bad"),  # a 400 is no attempt
    ]
    reply = send(m, items)
    assert statuses(reply) == [202, 422, 202, 422, 400]
    codes = [r["error"]["code"] for r in reply.json()["results"] if r["status"] != 202]
    assert codes == ["FRAUD_SUSPECTED", "LIMIT_EXCEEDED", "VALIDATION_ERROR"]
    decided = server.container.risk.decisions(client_id=m.creds.client_id, limit=100)
    assert sorted(d.code or "accepted" for d in decided) == sorted(
        ["accepted", "FRAUD_SUSPECTED", "accepted", "LIMIT_EXCEEDED"]
    )
    assert m.balance()["available"] == 998.00


@pytest.fixture
def settling_alone(db_settings: Settings, tmp_path: Path) -> Iterator[RunningServer]:
    """A settling server on a database of its own: the module's, where the other tests
    leave thousands of batch items unsettled, would make it drain them first."""
    kind = "postgres" if db_settings.database_url.startswith("postgresql") else "sqlite"
    with database(kind, tmp_path) as settings, running_server(settings, worker=True) as running:
        yield running


def test_accepted_items_settle(settling_alone: RunningServer) -> None:
    m = new_merchant(settling_alone, fund=10_00)
    reply = send(m, [cash_out_body(amount="2.00"), cash_out_body(amount="3.00")])
    assert statuses(reply) == [202, 202]
    for result in reply.json()["results"]:
        assert wait_terminal(m, result["cashOut"]["internalCode"])["status"] == "COMPLETED"
    assert m.balance()["available"] == 5.00


def test_the_route_is_described(server: RunningServer) -> None:
    schema = httpx.get(server.base_url + "/openapi.json").json()
    operation = schema["paths"]["/cash-out/batch"]["post"]
    assert operation["security"] == [{"Bearer": [], "ApplicationToken": [], "DigitalSignature": []}]
    headers = {p["name"] for p in operation["parameters"]}
    assert {"DigitalSignature", "X-Idempotency-Key"} <= headers
    assert {"200", "400", "401", "409", "413", "415", "422"} <= set(operation["responses"])
    assert "Idempotent-Replayed" in operation["responses"]["200"]["headers"]
    items = schema["components"]["schemas"]["CashOutBatchIn"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 1000)
    assert items["items"] == {"$ref": "#/components/schemas/CashOutIn"}


def test_the_docs_example_is_a_batch_the_server_takes(server: RunningServer) -> None:
    text = (Path(__file__).parents[2] / "docs" / "bulk-payouts.md").read_text()
    example = text.split("-d @- <<EOF\n", 1)[1].split("\nEOF", 1)[0]
    m = new_merchant(server, fund=200_00)
    reply = m.http.post("/cash-out/batch", content=example.encode(), headers=m.headers())
    assert statuses(reply) == [202, 202]
    assert m.balance()["available"] == 200.00 - 50.00 - 75.10
