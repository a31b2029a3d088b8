"""A merchant refunds a Pix it received (issue "Refunds, returns and MED", part 1): through
the real server with its worker, on SQLite and PostgreSQL. Partial refunds up to the
payment and the one past it refused, the balance rule, the 90-day window, a refund SPI
rejects and its funds coming back, both webhook shapes verified with standardwebhooks,
the exact balances after each step, and the ledger's invariants."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from connectpsp.adapters.storage import schema as t
from connectpsp.domain.ledger import FeePlan
from connectpsp.settings import Settings
from tests.invariants import cash_in_problems, ledger_problems
from tests.receiver import Receiver, receiver
from tests.support import (
    Api,
    RunningServer,
    cash_out_body,
    new_merchant,
    running_server,
    wait_terminal,
)

CLOSED_ACCOUNT_PAYER = {"name": "Conta Encerrada", "document": "07000000112", "ispb": "60701190"}


@pytest.fixture
def hooks(db_settings: Settings) -> Iterator[tuple[RunningServer, Receiver]]:
    with receiver() as hook, running_server(db_settings, worker=True) as server:
        yield server, hook


def merchant(server: RunningServer, **fields: Any) -> Api:
    return new_merchant(server, cash_in_fee=FeePlan(fixed=20), document="11144477735", **fields)


def paid_charge(m: Api, amount: str = "10.00", **pay: Any) -> tuple[str, str]:
    """A dynamic charge of ``amount``, paid by the sandbox payer: (internalCode, e2e)."""
    created = m.http.post(
        "/cash-in",
        json={
            "amount": amount,
            "externalReference": f"o-{uuid.uuid4().hex[:10]}",
            **pay.pop("charge", {}),
        },
        headers=m.headers(),
    )
    assert created.status_code == 201, created.text
    body = {"brCode": created.json()["brCode"], **pay}
    paid = m.http.post("/sandbox/pix/pay", json=body, headers=m.headers())
    assert paid.status_code == 201, paid.text
    return created.json()["internalCode"], paid.json()["endToEndId"]


def refund(m: Api, code: str, key: str | None = None, **body: Any) -> httpx.Response:
    return m.http.post(f"/cash-in/{code}/refunds", json=body, headers=m.headers(key=key))


def wait_refund(m: Api, code: str, refund_id: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply = m.get(f"/cash-in/{code}/refunds/{refund_id}")
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        if body["status"] != "PROCESSING":
            return body
        assert time.monotonic() < deadline, f"refund {refund_id} still PROCESSING"
        time.sleep(0.02)


def available(m: Api) -> Decimal:
    return Decimal(str(m.balance()["available"]))


def test_partial_refunds_up_to_the_payment_and_no_more(
    hooks: tuple[RunningServer, Receiver],
) -> None:
    server, hook = hooks
    m = merchant(server)
    endpoint = m.http.post(
        "/webhooks", json={"url": f"{hook.url}/account"}, headers=m.headers(sign=False)
    ).json()
    assert {"REFUND_COMPLETED", "REFUND_FAILED"} <= set(endpoint["events"])
    code, e2e = paid_charge(m, "10.00", charge={"webhookUrl": f"{hook.url}/own"})
    hook.wait_for(2)  # CASHIN_COMPLETED and its movement
    assert available(m) == Decimal("9.80")  # 10.00 less the fee of 0.20

    key = str(uuid.uuid4())
    first = refund(m, code, key=key, amount="4.00", description="Devolução parcial")
    assert first.status_code == 202, first.text
    accepted = first.json()
    assert accepted["status"] == "PROCESSING" and accepted["reason"] == "ORIGINAL"
    assert (accepted["internalCode"], accepted["endToEndId"], accepted["amount"]) == (
        code,
        e2e,
        4.0,
    )
    assert accepted["returnId"].startswith("D" + server.container.settings.ispb)
    assert len(accepted["returnId"]) == 32 and accepted["requestedAt"].endswith("-03:00")
    replay = refund(m, code, key=key, amount="4.00", description="Devolução parcial")
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == first.content
    done = wait_refund(m, code, accepted["refundId"])
    assert done["status"] == "COMPLETED" and done["completedAt"] is not None
    assert available(m) == Decimal("5.80")  # the fee is not given back

    short = refund(m, code, amount="6.00")  # the rest, but only 5.80 is available
    assert short.status_code == 422, short.text
    assert short.json()["error"]["code"] == "INSUFFICIENT_BALANCE"
    assert available(m) == Decimal("5.80")
    server.container.clients.fund(m.creds.client_id, 1_00)
    rest = refund(m, code, endToEndId=e2e, amount="6.00", reason="WITHDRAWAL")
    assert rest.status_code == 202, rest.text
    over = refund(m, code, amount="0.01")
    assert over.status_code == 422, over.text
    assert over.json()["error"]["code"] == "REFUND_EXCEEDS_PAYMENT"
    assert over.json()["error"]["details"] == {"refundable": "0.00"}
    assert wait_refund(m, code, rest.json()["refundId"])["status"] == "COMPLETED"
    assert available(m) == Decimal("0.80")

    [payment] = m.get(f"/cash-in/{code}").json()["payments"]
    assert [(r["amount"], r["reason"], r["status"]) for r in payment["refunds"]] == [
        (4.0, "ORIGINAL", "COMPLETED"),
        (6.0, "WITHDRAWAL", "COMPLETED"),
    ]
    got = hook.wait_for(6)
    own = [r for r in got if r.path == "/own" and r.json()["eventType"] == "REFUND_COMPLETED"]
    account = [r for r in got if r.path == "/account" and r.json()["event"] == "CashInRefund"]
    assert len(own) == len(account) == 2
    for delivery in own:
        payload = Webhook(m.creds.webhook_secret).verify(delivery.body, delivery.headers)
        assert payload["data"]["status"] == "COMPLETED" and payload["data"]["internalCode"] == code
    movements = [Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in account]
    assert {(x["movementType"], x["status"]) for x in movements} == {("DEBIT", "CONFIRMED")}
    assert {x["finalAmount"] for x in movements} == {4.0, 6.0}
    assert {x["originalEndToEndId"] for x in movements} == {e2e}
    assert movements[0]["counterpart"]["document"] == "***.982.247-**"
    assert {x["metadata"]["reason"] for x in movements} == {"MD06", "SL02"}
    assert ledger_problems(server.container.db) == []
    assert cash_in_problems(server.container.db) == []
    m.close()


def test_a_refund_spi_rejects_fails_and_its_funds_come_back(
    hooks: tuple[RunningServer, Receiver],
) -> None:
    server, hook = hooks
    m = merchant(server)
    endpoint = m.http.post(
        "/webhooks", json={"url": f"{hook.url}/account"}, headers=m.headers(sign=False)
    ).json()
    code, _ = paid_charge(
        m, "5.00", payer=CLOSED_ACCOUNT_PAYER, charge={"webhookUrl": f"{hook.url}/own"}
    )
    assert available(m) == Decimal("4.80")
    accepted = refund(m, code, amount="3.00")
    assert accepted.status_code == 202, accepted.text
    done = wait_refund(m, code, accepted.json()["refundId"])
    assert done["status"] == "FAILED"
    assert done["failure"] == {
        "code": "ACCOUNT_CLOSED",
        "message": "The payee's account is closed.",
        "reason": "AC07",
    }
    assert available(m) == Decimal("4.80")  # the reservation came back
    # A failed refund holds nothing of the payment: all of it may still go back.
    again = refund(m, code, amount="5.00")
    assert again.status_code == 422 and again.json()["error"]["code"] == "INSUFFICIENT_BALANCE"
    got = hook.wait_for(4)
    failed = [r for r in got if r.path == "/own" and r.json()["eventType"] == "REFUND_FAILED"]
    [own] = failed
    assert Webhook(m.creds.webhook_secret).verify(own.body, own.headers)["data"]["failure"][
        "code"
    ] == ("ACCOUNT_CLOSED")
    [movement] = [r for r in got if r.path == "/account" and r.json()["event"] == "CashInRefund"]
    verified = Webhook(endpoint["secret"]).verify(movement.body, movement.headers)
    assert (verified["status"], verified["errorCode"]) == ("ERROR", "ACCOUNT_CLOSED")
    assert ledger_problems(server.container.db) == []
    assert cash_in_problems(server.container.db) == []
    m.close()


def test_the_90_day_window(settling_server: RunningServer) -> None:
    m = merchant(settling_server)
    now = settling_server.clock.now()
    late, _ = paid_charge(m, "2.00", paidAt=(now - timedelta(days=90, minutes=1)).isoformat())
    closed = refund(m, late, amount="1.00")
    assert closed.status_code == 422, closed.text
    error = closed.json()["error"]
    assert error["code"] == "REFUND_WINDOW_CLOSED"
    assert set(error["details"]) == {"paidAt", "refundableUntil"}
    in_time, _ = paid_charge(m, "2.00", paidAt=(now - timedelta(days=89)).isoformat())
    accepted = refund(m, in_time, amount="1.00")
    assert accepted.status_code == 202, accepted.text
    assert wait_refund(m, in_time, accepted.json()["refundId"])["status"] == "COMPLETED"
    m.close()


def test_unknown_and_unpaid_payments_and_bad_requests(settling_server: RunningServer) -> None:
    m = merchant(settling_server, fund=10_00)
    unpaid = m.http.post(
        "/cash-in", json={"amount": "1.00", "externalReference": "unpaid"}, headers=m.headers()
    ).json()["internalCode"]
    before = available(m)
    reply = refund(m, unpaid, amount="1.00")
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "PAYMENT_NOT_FOUND"
    code, e2e = paid_charge(m, "3.00")
    wrong = "E60701190202601011200abcdefghijk"
    reply = refund(m, code, endToEndId=wrong, amount="1.00")
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["details"] == {"endToEndId": wrong}
    static = m.http.post(
        "/cash-in",
        json={"type": "STATIC", "externalReference": "twice"},
        headers=m.headers(),
    ).json()
    for _ in range(2):
        body = {"brCode": static["brCode"], "amount": "1.00"}
        assert m.http.post("/sandbox/pix/pay", json=body, headers=m.headers()).status_code == 201
    which = refund(m, static["internalCode"], amount="1.00")
    assert which.status_code == 400, which.text
    assert which.json()["error"]["details"][0]["field"] == "endToEndId"
    for bad, field in (
        ({"amount": "0.005"}, "amount"),
        ({"amount": "1.00", "reason": "X"}, "reason"),
    ):
        reply = refund(m, code, **bad)
        assert reply.status_code == 400 and reply.json()["error"]["details"][0]["field"] == field
    unsigned = m.http.post(
        f"/cash-in/{code}/refunds", json={"amount": "1.00"}, headers=m.headers(sign=False)
    )
    assert unsigned.status_code == 401
    other = merchant(settling_server, fund=10_00)
    assert refund(other, code, amount="1.00").status_code == 404
    assert other.get(f"/cash-in/{code}/refunds/{uuid.uuid4()}").status_code == 404
    assert available(m) == before + Decimal("4.40")  # 3.00 and twice 1.00, less 0.20 each
    assert e2e.startswith("E60701190")
    m.close()
    other.close()


def test_a_refund_to_our_own_client_comes_back_as_a_return_of_its_cash_out(
    settling_server: RunningServer,
) -> None:
    """The payer is a client of ours (an on-us Pix): SPI brings the refund straight back
    to us as a return of the payer's cash-out, which is credited and lists it."""
    payer = new_merchant(settling_server, fund=20_00, fee=FeePlan(fixed=50))
    shop = merchant(settling_server)
    created = shop.http.post(
        "/cash-in", json={"amount": "7.00", "externalReference": "on-us"}, headers=shop.headers()
    ).json()
    paid = payer.cash_out(
        cash_out_body(amount="7.00", destination={"type": "BRCODE", "brCode": created["brCode"]})
    )
    done = wait_terminal(payer, paid.json()["internalCode"])
    assert done["status"] == "COMPLETED"
    assert available(payer) == Decimal("12.50") and available(shop) == Decimal("6.80")
    accepted = refund(shop, created["internalCode"], amount="2.50")
    assert accepted.status_code == 202, accepted.text
    ended = wait_refund(shop, created["internalCode"], accepted.json()["refundId"])
    assert ended["status"] == "COMPLETED"
    assert available(shop) == Decimal("4.30") and available(payer) == Decimal("15.00")
    read = payer.get(f"/cash-out/{done['internalCode']}").json()
    assert read["returnedAmount"] == 2.5
    [back] = read["returns"]
    assert (back["returnId"], back["reason"]) == (accepted.json()["returnId"], "MD06")
    assert ledger_problems(settling_server.container.db) == []
    assert cash_in_problems(settling_server.container.db) == []
    payer.close()
    shop.close()


def test_a_refund_whose_answer_was_lost_is_asked_again_and_ends_once(
    settling_server: RunningServer,
) -> None:
    m = merchant(settling_server, fund=1_00)
    lost_answer = {"name": "Resposta Perdida", "document": "07000000384", "ispb": "60701190"}
    code, _ = paid_charge(m, "3.00", payer=lost_answer)
    accepted = refund(m, code, amount="3.00").json()
    deadline = time.monotonic() + 15
    while m.get(f"/cash-in/{code}/refunds/{accepted['refundId']}").json()["status"] == (
        "PROCESSING"
    ):
        settling_server.clock.advance(seconds=1)  # past the worker's backoff
        settling_server.container.worker.wake()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert wait_refund(m, code, accepted["refundId"])["status"] == "COMPLETED"
    assert available(m) == Decimal("0.80")  # 1.00 + 3.00 - 0.20 - 3.00
    db = settling_server.container.db
    with db.transaction(write=False) as tx:
        sent = tx.conn.execute(
            select(t.sandbox_spi_payments.c.submit_count).where(
                t.sandbox_spi_payments.c.end_to_end_id == accepted["returnId"]
            )
        ).scalar_one()
    assert sent >= 2  # asked again, and SPI took it once
    assert ledger_problems(db) == [] and cash_in_problems(db) == []
    m.close()


def test_a_pix_to_a_key_is_refunded_by_its_end_to_end_id(
    hooks: tuple[RunningServer, Receiver],
) -> None:
    """A Pix sent to a key with no charge has no internalCode: ``POST /refunds`` names it
    by its endToEndId (any received Pix, in fact), and ``GET /refunds/{refundId}`` reads
    any refund of the client's, a MED infraction's among them."""
    server, hook = hooks
    m = merchant(server)
    endpoint = m.http.post(
        "/webhooks", json={"url": f"{hook.url}/account"}, headers=m.headers(sign=False)
    ).json()
    key = m.http.post("/pix-keys", json={"type": "EVP"}, headers=m.headers()).json()["key"]
    paid = m.http.post(
        "/sandbox/pix/pay", json={"pixKey": key, "amount": "10.00"}, headers=m.headers()
    )
    assert paid.status_code == 201, paid.text
    e2e = paid.json()["endToEndId"]
    assert available(m) == Decimal("9.80")

    def by_e2e(key: str | None = None, **body: Any) -> httpx.Response:
        return m.http.post("/refunds", json=body, headers=m.headers(key=key))

    missing = by_e2e(amount="1.00")
    assert missing.status_code == 400, missing.text
    assert missing.json()["error"]["details"][0]["field"] == "endToEndId"
    unknown = by_e2e(endToEndId="E60701190202612051200Ab3dE5fG7hJ", amount="1.00")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "PAYMENT_NOT_FOUND")
    idempotency = str(uuid.uuid4())
    first = by_e2e(idempotency, endToEndId=e2e, amount="3.00")
    assert first.status_code == 202, first.text
    accepted = first.json()
    assert (accepted["internalCode"], accepted["endToEndId"], accepted["amount"]) == (
        None,
        e2e,
        3.0,
    )
    assert by_e2e(idempotency, endToEndId=e2e, amount="3.00").content == first.content
    over = by_e2e(endToEndId=e2e, amount="7.01")
    assert (over.status_code, over.json()["error"]["details"]) == (422, {"refundable": "7.00"})
    url = f"/refunds/{accepted['refundId']}"
    deadline = time.monotonic() + 15
    while m.get(url).json()["status"] == "PROCESSING":
        assert time.monotonic() < deadline, "the refund was not sent"
        time.sleep(0.02)
    assert m.get(url).json()["status"] == "COMPLETED"
    assert available(m) == Decimal("6.80")
    movement = next(
        r for r in hook.wait_for(2) if r.path == "/account" and r.json()["event"] == "CashInRefund"
    )
    verified = Webhook(endpoint["secret"]).verify(movement.body, movement.headers)
    assert (verified["originalEndToEndId"], verified["finalAmount"]) == (e2e, 3.0)

    # A charge's payment may be named by its endToEndId alone too; the refund keeps its code.
    code, charge_e2e = paid_charge(m, "2.00")
    of_charge = by_e2e(endToEndId=charge_e2e, amount="1.00").json()
    assert of_charge["internalCode"] == code
    assert m.get(f"/cash-in/{code}/refunds/{of_charge['refundId']}").status_code == 200
    # MED's refund of the key's Pix is read the same way.
    report = m.http.post(
        "/sandbox/med/infractions", json={"endToEndId": e2e}, headers=m.headers()
    ).json()
    decided = server.container.infractions.accept(report["infractionId"], by="ana")
    assert decided.refund_id is not None
    fraud = m.get(f"/refunds/{decided.refund_id}").json()
    assert (fraud["reason"], fraud["amount"], fraud["internalCode"]) == ("FRAUD", 7.0, None)
    assert ledger_problems(server.container.db) == []
    assert cash_in_problems(server.container.db) == []
    m.close()
