"""Fraud and risk checks before the 202, through the real server, on SQLite and
PostgreSQL: marked counterparts are refused with no money moved, each client rule holds
at its edge, the night crosses midnight in Sao Paulo, concurrency is exact, and every
decision is recorded."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectpsp.domain.clock import SAO_PAULO
from tests.support import Api, RunningServer, cash_out_body, new_merchant

SCAMMER_KEY = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "scammer@sandbox.connectpsp.dev"}
SCAMMER_OWNER = "40815629974"
MULE = "28643179582"  # a document carrying a MULE_ACCOUNT marker
ACCOUNT = {
    "type": "BANK_ACCOUNT",
    "bankAccount": {
        "ispb": "18236120",
        "branch": "0001",
        "account": "947710840",
        "accountType": "PAYMENT",
    },
}


def new_cpf() -> str:
    """A valid CPF nobody else in the run uses."""
    digits = [int(c) for c in f"{uuid.uuid4().int % 10**9:09d}"]
    for weights in (range(10, 1, -1), range(11, 1, -1)):
        remainder = sum(d * w for d, w in zip(digits, weights, strict=False)) % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return "".join(map(str, digits))


def code_of(reply: httpx.Response) -> str:
    if reply.status_code == 202:
        return "accepted"
    error = reply.json()["error"]
    if error["code"] == "LIMIT_EXCEEDED" and error["details"]:
        return str(error["details"]["rule"])
    return str(error["code"])


def decisions_of(m: Api) -> list[Any]:
    return m.server.container.risk.decisions(client_id=m.creds.client_id, limit=1000)


def with_rules(server: RunningServer, m: Api, **rules: Any) -> None:
    client = server.container.clients.get(m.creds.client_id)
    server.container.clients.set_risk(m.creds.client_id, replace(client.risk, **rules))


@pytest.mark.parametrize(
    "case",
    ["marked key", "marked key's owner", "marked payee document", "marked bank-account owner"],
)
def test_a_marked_counterpart_is_refused_with_no_money_moved(
    server: RunningServer, case: str
) -> None:
    m = new_merchant(server, fund=100_00)
    body = cash_out_body(amount="10.00")
    if case == "marked key":
        body["payee"].update(document=SCAMMER_OWNER, destination=SCAMMER_KEY)
    elif case == "marked key's owner":
        # A key whose owner's document carries the marker, the key itself none.
        mule_key = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "mule@sandbox.connectpsp.dev"}
        body["payee"].update(document=MULE, destination=mule_key)
    elif case == "marked payee document":
        document = new_cpf()
        marker = m.http.post(
            "/sandbox/dict/fraud-markers", json={"document": document}, headers=m.headers()
        )
        assert marker.status_code == 201, marker.text
        body["payee"]["document"] = document
        body["payee"]["destination"] = {"type": "PIX", "pixKeyType": "CPF", "pixKey": document}
    else:
        body["payee"].update(document=MULE, destination=ACCOUNT)
    reply = m.cash_out(body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == {
        "code": "FRAUD_SUSPECTED",
        "message": "The cash-out was refused by a fraud check.",
        "details": None,
    }
    assert m.balance() == {"available": 100.00, "reserved": 0.00, "blocked": 0.00, "total": 100.00}
    assert m.get("/cash-out", externalReference=body["externalReference"]).status_code == 404
    (decision,) = decisions_of(m)
    assert decision.code == "FRAUD_SUSPECTED" and decision.cash_out_id is None
    fraud = decision.checks[0]
    assert fraud.rule == "fraud_markers" and not fraud.passed
    if case == "marked payee document":  # the marker removed: the same payee is paid
        gone = m.http.delete(
            f"/sandbox/dict/fraud-markers/{marker.json()['id']}", headers=m.headers(sign=False)
        )
        assert gone.status_code == 204
        again = {**body, "externalReference": f"ref-{uuid.uuid4().hex[:12]}"}
        assert m.cash_out(again).status_code == 202


def test_each_client_rule_at_its_edge(server: RunningServer) -> None:
    m = new_merchant(server, fund=100_000_00)
    with_rules(server, m, max_cash_outs_per_minute=3)
    sent = [code_of(m.cash_out(amount="1.00")) for _ in range(4)]
    assert sent == ["accepted"] * 3 + ["max_cash_outs_per_minute"]
    server.clock.advance(hours=1, seconds=1)  # past the minute, and the hour's 3.00
    m.renew_token()  # a token lasts an hour
    with_rules(server, m, max_cash_outs_per_minute=None, max_amount_per_hour=100_00)
    assert code_of(m.cash_out(amount="60.00")) == "accepted"
    assert code_of(m.cash_out(amount="40.01")) == "max_amount_per_hour"
    assert code_of(m.cash_out(amount="40.00")) == "accepted"
    server.clock.advance(hours=1, seconds=1)
    m.renew_token()
    with_rules(server, m, max_amount_per_hour=None, new_payee_limit=50_00)
    ana = {"type": "PIX", "pixKeyType": "CPF", "pixKey": "98765432100"}
    new_payee = cash_out_body(amount="50.01", destination=ana)
    new_payee["payee"]["document"] = "98765432100"
    assert code_of(m.cash_out(new_payee)) == "new_payee_limit"
    new_payee.update(amount="50.00", externalReference=f"ref-{uuid.uuid4().hex[:12]}")
    assert code_of(m.cash_out(new_payee)) == "accepted"
    new_payee.update(amount="5000.00", externalReference=f"ref-{uuid.uuid4().hex[:12]}")
    assert code_of(m.cash_out(new_payee)) == "accepted"  # no longer new
    # The refusal names the client's own limit; and it is stored against the key.
    key = str(uuid.uuid4())
    stranger = new_cpf()
    breach = cash_out_body(
        amount="50.01", destination={"type": "PIX", "pixKeyType": "CPF", "pixKey": stranger}
    )
    breach["payee"]["document"] = stranger
    first = m.cash_out(breach, key=key)
    assert first.json()["error"]["details"] == {"rule": "new_payee_limit", "limit": "50.00"}
    again = m.cash_out(breach, key=key)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


def test_the_night_limit_across_midnight_in_sao_paulo(server: RunningServer) -> None:
    m = new_merchant(server, fund=100_000_00)
    with_rules(server, m, night_limit=100_00)  # 20:00-06:00

    def at(moment: datetime) -> None:
        server.clock.offset = moment - datetime.now(UTC)
        m.renew_token()  # one valid at that moment

    try:
        at(datetime(2026, 3, 10, 19, 59, 30, tzinfo=SAO_PAULO))
        assert code_of(m.cash_out(amount="1000.00")) == "accepted"  # still the day
        at(datetime(2026, 3, 10, 22, 0, tzinfo=SAO_PAULO))
        assert code_of(m.cash_out(amount="70.00")) == "accepted"
        at(datetime(2026, 3, 11, 1, 30, tzinfo=SAO_PAULO))
        assert code_of(m.cash_out(amount="30.01")) == "night_limit"
        assert code_of(m.cash_out(amount="30.00")) == "accepted"
        at(datetime(2026, 3, 11, 6, 0, 30, tzinfo=SAO_PAULO))
        assert code_of(m.cash_out(amount="1000.00")) == "accepted"  # morning
    finally:
        server.clock.offset = timedelta(0)
        m.renew_token()


def test_fifty_at_once_against_five_a_minute_accept_exactly_five(server: RunningServer) -> None:
    m = new_merchant(server, fund=100_000_00)
    with_rules(server, m, max_cash_outs_per_minute=5)
    headers = [m.headers() for _ in range(50)]
    go = threading.Barrier(50)

    def send(n: int) -> str:
        go.wait(10)
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            reply = http.post("/cash-out", json=cash_out_body(amount="1.00"), headers=headers[n])
        return code_of(reply)

    with ThreadPoolExecutor(50) as pool:
        outcomes = Counter(pool.map(send, range(50)))
    assert outcomes == {"accepted": 5, "max_cash_outs_per_minute": 45}
    assert m.balance()["reserved"] == 5.00
    decided = decisions_of(m)
    assert len(decided) == 50
    assert sum(d.code is None for d in decided) == 5


def test_every_decision_is_recorded_with_its_checks_and_inputs(server: RunningServer) -> None:
    m = new_merchant(server, fund=5_00)
    with_rules(server, m, max_cash_outs_per_minute=10, new_payee_limit=3_00)
    ok = m.cash_out(amount="2.00")
    assert ok.status_code == 202
    rest = m.cash_out(amount="3.00")  # 5.00 - 2.00 leaves exactly 3.00
    assert rest.status_code == 202
    broke = m.cash_out(amount="1.00")
    assert code_of(broke) == "INSUFFICIENT_BALANCE"
    newest, middle, oldest = decisions_of(m)
    assert oldest.cash_out_id == ok.json()["transactionId"] and oldest.code is None
    assert [c.rule for c in oldest.checks] == [
        "fraud_markers",
        "max_cash_outs_per_minute",
        "new_payee_limit",
    ]
    assert oldest.checks[2].inputs == {"limit": 3_00, "knownPayee": False, "amount": 2_00}
    assert middle.checks[2].inputs["knownPayee"] is True
    assert middle.checks[1].inputs == {"limit": 10, "inLastMinute": 1}
    assert newest.code == "INSUFFICIENT_BALANCE" and all(c.passed for c in newest.checks)
    # A replay is not decided again, so not recorded again.
    key = str(uuid.uuid4())
    body = cash_out_body(amount="9.00")
    assert m.cash_out(body, key=key).status_code == 422
    assert m.cash_out(body, key=key).headers["idempotent-replayed"] == "true"
    assert len(decisions_of(m)) == 4
