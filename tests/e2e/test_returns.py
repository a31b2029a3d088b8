"""A payee's bank sends a cash-out back (issue "Refunds, returns and MED", part 2): through
the real server with its worker, on SQLite and PostgreSQL, via the simulated network's
inbound side. The cash-out stays COMPLETED and lists its returns, the client is
credited what came back (the fee stays charged), returns never pass the cash-out's
amount, and both webhooks go out, verified with standardwebhooks."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from connectpsp import webhooks
from connectpsp.domain.ledger import FeePlan
from connectpsp.settings import Settings
from tests.e2e.test_sdk import psp_for
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

MARIA_KEY = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "maria.silva@sandbox.connectpsp.dev"}
BLOCKED_KEY = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "ac06@sandbox.connectpsp.dev"}


@pytest.fixture
def hooks(db_settings: Settings) -> Iterator[tuple[RunningServer, Receiver]]:
    with receiver() as hook, running_server(db_settings, worker=True) as server:
        yield server, hook


def send_back(m: Api, code: str, **body: Any) -> httpx.Response:
    return m.http.post(f"/sandbox/cash-out/{code}/return", json=body, headers=m.headers())


def available(m: Api) -> Decimal:
    return Decimal(str(m.balance()["available"]))


def test_a_cash_out_comes_back_in_parts_and_no_more(hooks: tuple[RunningServer, Receiver]) -> None:
    server, hook = hooks
    m = new_merchant(server, fund=100_00, fee=FeePlan(fixed=50))
    endpoint = m.http.post(
        "/webhooks", json={"url": f"{hook.url}/account"}, headers=m.headers(sign=False)
    ).json()
    assert "CASHOUT_RETURNED" in endpoint["events"]
    accepted = m.cash_out(
        cash_out_body(amount="10.00", destination=MARIA_KEY, webhookUrl=f"{hook.url}/own")
    ).json()
    done = wait_terminal(m, accepted["internalCode"])
    assert done["status"] == "COMPLETED" and done["returnedAmount"] == 0 and done["returns"] == []
    hook.wait_for(2)  # CASHOUT_COMPLETED and its movement
    assert available(m) == Decimal("89.50")

    first = send_back(m, accepted["internalCode"], amount="4.00", reason="MD06")
    assert first.status_code == 201, first.text
    shown = first.json()
    assert shown["status"] == "COMPLETED" and shown["returnedAmount"] == 4.0
    [back] = shown["returns"]
    assert back["returnId"].startswith("D18236120") and len(back["returnId"]) == 32
    assert (back["amount"], back["reason"]) == (4.0, "MD06")
    assert available(m) == Decimal("93.50")  # the fee stays charged

    assert send_back(m, accepted["internalCode"], amount="6.00", reason="FR01").status_code == 201
    too_much = send_back(m, accepted["internalCode"], amount="0.01")
    assert too_much.status_code == 422, too_much.text
    assert too_much.json()["error"]["details"] == {"reason": "AM09"}
    assert available(m) == Decimal("99.50")
    read = m.get(f"/cash-out/{accepted['internalCode']}").json()
    assert read["returnedAmount"] == 10.0 and [r["reason"] for r in read["returns"]] == [
        "MD06",
        "FR01",
    ]

    got = hook.wait_for(6)
    own = [r for r in got if r.path == "/own" and r.json()["eventType"] == "CASHOUT_RETURNED"]
    account = [r for r in got if r.path == "/account" and r.json()["event"] == "CashOutReturn"]
    assert len(own) == len(account) == 2
    latest = max(own, key=lambda r: r.json()["data"]["returnedAmount"])
    payload = Webhook(m.creds.webhook_secret).verify(latest.body, latest.headers)
    assert payload["data"]["status"] == "COMPLETED"
    assert payload["data"]["returnedAmount"] == 10.0
    assert payload["data"]["return"]["reason"] == "FR01"
    movement = Webhook(endpoint["secret"]).verify(account[0].body, account[0].headers)
    assert movement["movementType"] == "CREDIT" and movement["status"] == "CONFIRMED"
    assert movement["originalEndToEndId"] == done["endToEndId"]
    assert movement["counterpart"]["document"] == "***.456.789-**"
    assert {m_["finalAmount"] for m_ in (r.json() for r in account)} == {4.0, 6.0}
    # The SDK reads both as typed events.
    typed = webhooks.verify(latest.body, latest.headers, m.creds.webhook_secret)
    assert isinstance(typed, webhooks.CashOutReturned) and typed.reason == "FR01"
    assert typed.returned_amount == Decimal("10.00")
    credit = webhooks.verify(account[0].body, account[0].headers, endpoint["secret"])
    assert isinstance(credit, webhooks.CashOutReturnMovement)
    assert credit.original_end_to_end_id == done["endToEndId"]
    with psp_for(m) as psp:  # the SDK reads the returns too
        seen = psp.cash_outs.get(accepted["internalCode"])
        assert seen.returned_amount == Decimal("10.00")
        assert [(r.amount, r.reason) for r in seen.returns] == [
            (Decimal("4.00"), "MD06"),
            (Decimal("6.00"), "FR01"),
        ]
    assert ledger_problems(server.container.db) == []
    assert cash_in_problems(server.container.db) == []
    m.close()


def test_only_a_completed_cash_out_comes_back(settling_server: RunningServer) -> None:
    m = new_merchant(settling_server, fund=10_00)
    failed = m.cash_out(cash_out_body(amount="1.00", destination=BLOCKED_KEY)).json()
    assert wait_terminal(m, failed["internalCode"])["status"] == "FAILED"
    refused = send_back(m, failed["internalCode"], amount="1.00")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "ILLEGAL_TRANSITION"
    other = new_merchant(settling_server)
    assert send_back(other, failed["internalCode"], amount="1.00").status_code == 404
    bad = send_back(m, failed["internalCode"], amount="1.00", reason="XX01")
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "reason"
    m.close()
    other.close()
