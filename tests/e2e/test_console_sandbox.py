"""The console's sandbox page over HTTP, on SQLite and PostgreSQL: funding a client,
paying a BR Code, returning a cash-out and reporting a received Pix (MED), each moving
what the API's own sandbox action moves (read back through the API), written to the
audit log, refusing bad input with the field named, forged and logged-out forms; and
outside the sandbox, every route of it 404 and no link to it."""

from __future__ import annotations

import html
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx

from connectpsp.domain.operators import AuditEntry
from connectpsp.settings import Settings
from tests.e2e.test_console import _CSRF, PASSWORD, Console, new_operator, signed_in
from tests.e2e.test_med import Z, balance, merchant, received
from tests.support import Api, RunningServer, new_merchant, running_server, wait_terminal

PAGE = "/console/sandbox"
ROUTES = ("fund", "pay", "return", "infraction")


def audited(server: RunningServer, action: str, outcome: str = "done") -> AuditEntry:
    """The newest audit record of ``action`` with ``outcome``."""
    entries = server.container.operators.audit_log(limit=50)
    return next(e for e in entries if e.action == action and e.outcome == outcome)


def charge(m: Api, amount: str) -> str:
    """A dynamic charge of ``amount``: its BR Code."""
    fields = {"amount": amount, "externalReference": uuid.uuid4().hex[:12]}
    created = m.http.post("/cash-in", json=fields, headers=m.headers())
    assert created.status_code == 201, created.text
    return str(created.json()["brCode"])


def refused_with(answer: httpx.Response, status: int, *words: str) -> None:
    assert answer.status_code == status, answer.text
    text = html.unescape(answer.text)
    for word in words:
        assert word in text, text


def test_funding_a_client_moves_its_balance_and_is_audited(
    settling_server: RunningServer,
) -> None:
    m = new_merchant(settling_server)
    console = signed_in(settling_server)
    page = console.http.get(PAGE)
    assert page.status_code == 200 and f'<option value="{m.creds.client_id}"' in page.text
    assert 'href="/console/sandbox"' in page.text  # the nav's link, in the sandbox
    token = console.csrf(PAGE)
    fund = f"{PAGE}/fund"

    for amount, why in (
        ("50.005", "at most 2 decimal places"),
        ("10,00", "must be a decimal number such as 50.00"),
        ("0", "must be greater than 0"),
        ("", "is required"),
    ):
        bad = console.post(fund, {"csrf": token, "client": m.creds.client_id, "amount": amount})
        refused_with(bad, 400, "amount", why)
    unknown = console.post(fund, {"csrf": token, "client": "nobody", "amount": "1.00"})
    refused_with(unknown, 404, "No client nobody.")
    assert console.post(fund, {"client": m.creds.client_id, "amount": "1.00"}).status_code == 403
    outsider = Console(settling_server)
    form = {"csrf": token, "client": m.creds.client_id, "amount": "1.00"}
    assert outsider.post(fund, form).status_code == 401
    assert m.balance()["available"] == 0  # nothing moved so far

    done = console.post(fund, {"csrf": token, "client": m.creds.client_id, "amount": "1500.25"})
    assert done.status_code == 303, done.text
    shown = console.http.get(done.headers["location"])
    assert "Funded" in shown.text and "R$ 1.500,25" in shown.text
    assert f'href="/console/clients/{m.creds.client_id}"' in shown.text
    assert Decimal(str(m.balance()["available"])) == Decimal("1500.25")
    entry = audited(settling_server, "sandbox.fund")
    assert entry.subject_kind == "client" and entry.subject_id == m.creds.client_id
    assert entry.before == {"available": "0.00", "reserved": "0.00", "amount": "1500.25"}
    assert entry.after == {"available": "1500.25", "reserved": "0.00", "amount": "1500.25"}
    console.close()
    outsider.close()
    m.close()


def test_paying_a_br_code_credits_its_client_and_is_audited(
    settling_server: RunningServer,
) -> None:
    m = merchant(settling_server)  # a cash-in fee of R$ 0,20
    code = charge(m, "25.00")
    console = signed_in(settling_server)
    token = console.csrf(PAGE)
    pay = f"{PAGE}/pay"
    refused_with(console.post(pay, {"csrf": token, "brCode": ""}), 400, "brCode", "is required")
    refused_with(
        console.post(pay, {"csrf": token, "brCode": code, "amount": "25.001"}),
        400,
        "amount",
        "at most 2 decimal places",
    )
    refused_with(console.post(pay, {"csrf": token, "brCode": "not a code"}), 400, "BR Code")
    assert console.post(pay, {"brCode": code}).status_code == 403
    assert Console(settling_server).post(pay, {"csrf": token, "brCode": code}).status_code == 401
    assert balance(m) == (Z, Z, Z)

    done = console.post(pay, {"csrf": token, "brCode": code})
    assert done.status_code == 303, done.text
    shown = console.http.get(done.headers["location"]).text
    e2e = done.headers["location"].split("id=")[1].split("&")[0]
    assert f"Paid: Pix <code>{e2e}</code>" in shown
    assert f'href="/console/clients/{m.creds.client_id}"' in shown
    assert f'name="endToEndId" maxlength="32" value="{e2e}"' in shown  # ready to report
    assert balance(m) == (Decimal("24.80"), Z, Z)
    # The notice says what is stored, not what a crafted link claims.
    other = new_merchant(settling_server).creds.client_id
    crafted = console.http.get(PAGE, params={"done": "pay", "id": e2e, "client": other}).text
    assert f"Paid: Pix <code>{e2e}</code>." in crafted and other not in crafted.split("</p>")[1]
    entry = audited(settling_server, "sandbox.pay")
    assert entry.subject_kind == "br_code" and entry.before is not None
    assert entry.before["br_code"] == code
    assert entry.after == {"end_to_end_id": e2e, "client_id": m.creds.client_id}

    again = console.post(pay, {"csrf": token, "brCode": code})  # paid already
    assert again.status_code in (409, 422), again.text
    assert balance(m) == (Decimal("24.80"), Z, Z)
    refused = audited(settling_server, "sandbox.pay", "refused")
    assert refused.detail is not None and refused.before == entry.before
    console.close()
    m.close()


def test_returning_a_cash_out_credits_it_back_and_is_audited(
    settling_server: RunningServer,
) -> None:
    m = new_merchant(settling_server, fund=100_00)
    accepted = m.cash_out(amount="40.00").json()
    paid = wait_terminal(m, accepted["internalCode"])
    assert paid["status"] == "COMPLETED"
    console = signed_in(settling_server)
    token = console.csrf(PAGE)
    back = f"{PAGE}/return"
    code = paid["internalCode"]
    before = Decimal(str(m.balance()["available"]))

    refused_with(
        console.post(back, {"csrf": token, "cashOut": code, "amount": "50.005"}),
        400,
        "amount",
        "at most 2 decimal places",
    )
    refused_with(
        console.post(back, {"csrf": token, "cashOut": code, "amount": "1.00", "reason": "XX01"}),
        400,
        "reason",
    )
    refused_with(
        console.post(back, {"csrf": token, "cashOut": "NOPE", "amount": "1.00"}),
        404,
        "No cash-out NOPE.",
    )
    assert console.post(back, {"cashOut": code, "amount": "1.00"}).status_code == 403
    outsider = Console(settling_server)
    assert outsider.post(back, {"csrf": token, "cashOut": code, "amount": "1"}).status_code == 401

    done = console.post(back, {"csrf": token, "cashOut": code, "amount": "15.00", "reason": "BE08"})
    assert done.status_code == 303, done.text
    cash_out_id = paid["transactionId"]
    assert done.headers["location"] == f"{PAGE}?done=return&id={cash_out_id}"
    shown = console.http.get(done.headers["location"]).text
    assert f'href="/console/cash-outs/{cash_out_id}"' in shown and "R$ 15,00 back" in shown
    assert Decimal(str(m.balance()["available"])) == before + Decimal("15.00")
    returns = m.get(f"/cash-out/{code}").json()["returns"]
    assert [(r["amount"], r["reason"]) for r in returns] == [(15.0, "BE08")]
    entry = audited(settling_server, "sandbox.return")
    assert entry.subject_kind == "cash_out" and entry.subject_id == cash_out_id
    assert entry.before is not None and entry.after is not None
    assert entry.before["returned"] == "0.00" and entry.before["amount_back"] == "15.00"
    assert entry.after["returned"] == "15.00" and entry.after["returns"] == 1

    # By its id this time; more than what is left is refused, and written as refused.
    too_much = console.post(back, {"csrf": token, "cashOut": cash_out_id, "amount": "30.00"})
    refused_with(too_much, 422, "more than the cash-out's amount")
    assert audited(settling_server, "sandbox.return", "refused").subject_id == cash_out_id
    assert Decimal(str(m.balance()["available"])) == before + Decimal("15.00")
    console.close()
    outsider.close()
    m.close()


def test_reporting_a_received_pix_blocks_it_and_is_audited(
    settling_server: RunningServer,
) -> None:
    m = merchant(settling_server)
    _, e2e = received(m, "30.00")
    console = signed_in(settling_server)
    token = console.csrf(PAGE)
    report = f"{PAGE}/infraction"
    refused_with(
        console.post(report, {"csrf": token, "endToEndId": "E123", "amount": "1.00"}),
        400,
        "endToEndId",
    )
    refused_with(
        console.post(report, {"csrf": token, "endToEndId": e2e, "amount": "50.005"}),
        400,
        "amount",
        "at most 2 decimal places",
    )
    unknown = "E" + "9" * 20 + "abcdefghijk"
    refused_with(console.post(report, {"csrf": token, "endToEndId": unknown}), 404, "No Pix")
    assert console.post(report, {"endToEndId": e2e}).status_code == 403
    assert (
        Console(settling_server).post(report, {"csrf": token, "endToEndId": e2e}).status_code == 401
    )
    assert balance(m) == (Decimal("29.80"), Z, Z)

    form = {"csrf": token, "endToEndId": e2e, "amount": "12.00", "details": "golpe do pix"}
    done = console.post(report, form)
    assert done.status_code == 303, done.text
    infraction_id = done.headers["location"].split("id=")[1]
    shown = console.http.get(done.headers["location"]).text
    assert f'href="/console/infractions#infraction-{infraction_id}"' in shown
    assert "R$ 12,00 blocked" in shown
    assert balance(m) == (Decimal("17.80"), Z, Decimal("12.00"))
    found = m.get(f"/infractions/{infraction_id}").json()
    assert found["status"] == "OPEN" and found["endToEndId"] == e2e
    entry = audited(settling_server, "sandbox.infraction")
    assert entry.subject_kind == "cash_in" and entry.subject_id == e2e
    assert entry.before == {"end_to_end_id": e2e, "amount": "12.00", "details": "golpe do pix"}
    assert entry.after is not None and entry.after["infraction_id"] == infraction_id
    assert entry.after["blocked"] == "12.00" and entry.after["status"] == "OPEN"

    again = console.post(report, form)
    refused_with(again, 409, "reported already")
    assert audited(settling_server, "sandbox.infraction", "refused").subject_id == e2e
    console.close()
    m.close()


def _production_console(server: RunningServer) -> httpx.Client:
    """A signed-in operator of a production server (Secure cookies, sent by hand)."""
    form = httpx.get(f"{server.base_url}/console/login")
    token = _CSRF.search(form.text)
    assert token is not None
    login_cookie = form.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    http = httpx.Client(
        base_url=server.base_url, cookies={"__Host-connectpsp_console_login": login_cookie}
    )
    answer = http.post(
        "/console/login",
        data={"email": new_operator(server), "password": PASSWORD, "csrf": token.group(1)},
    )
    assert answer.status_code == 303, answer.text
    session = answer.cookies["__Host-connectpsp_console"]
    http.cookies.set("__Host-connectpsp_console", session)
    return http


def test_outside_the_sandbox_its_routes_are_404(db_settings: Settings, tmp_path: Any) -> None:
    production = replace(db_settings, env="production", var_dir=tmp_path)
    with running_server(production) as server:
        client = server.container.clients.create("merchant-prod").client_id
        earlier = {e.id for e in server.container.operators.audit_log()}  # the module's DB
        http = _production_console(server)
        try:
            dashboard = http.get("/console/")
            assert dashboard.status_code == 200 and "Settlement" in dashboard.text
            assert "/console/sandbox" not in dashboard.text
            token = _CSRF.search(dashboard.text)
            assert token is not None
            assert http.get(PAGE).status_code == 404
            for route in ROUTES:
                form = {"csrf": token.group(1), "client": client, "amount": "10.00"}
                assert http.post(f"{PAGE}/{route}", data=form).status_code == 404
        finally:
            http.close()
        assert server.container.clients.balance(client).available == 0
        written = [e for e in server.container.operators.audit_log() if e.id not in earlier]
        assert not [e for e in written if e.action.startswith("sandbox.")]
