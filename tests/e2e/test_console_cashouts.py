"""The console's cash-outs and failed webhooks over HTTP, on SQLite and PostgreSQL: the
search across clients by each field (and what each form of it is served by), keyset
pages, a cash-out's timeline (ledger, rail, webhook attempts), and a failed delivery
retried with CSRF and written to the audit log."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import text

from connectpsp.adapters.storage.console_reads import search_statement
from connectpsp.console import cashouts
from connectpsp.domain.cashout_search import parse_query
from connectpsp.domain.clock import SAO_PAULO
from tests.e2e.test_cli_webhooks import MARIA_KEY, deliveries
from tests.e2e.test_console import Console, signed_in
from tests.receiver import Receiver, receiver
from tests.support import Api, RunningServer, cash_out_body, new_merchant, wait_terminal

REJECTED = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "ac03@sandbox.connectpsp.dev"}
LOJA = {
    "name": "Loja Exemplo Ltda",
    "document": "12ABC34501DE35",
    "destination": {"type": "PIX", "pixKeyType": "CNPJ", "pixKey": "12ABC34501DE35"},
}


def failed_delivery(server: RunningServer, m: Api, hook: Receiver) -> tuple[str, str]:
    """A cash-out whose webhook the receiver answered 500 at every scheduled attempt:
    (its internalCode, the failed delivery's id). Moves the server's clock ~77 hours."""
    hook.script = [(500, {})] * 8  # the 9th is answered 200
    reply = m.http.post("/webhooks", json={"url": hook.url}, headers=m.headers(sign=False))
    hook.expect(reply.json()["secret"])
    code = m.cash_out(destination=MARIA_KEY).json()["internalCode"]
    wait_terminal(m, code)
    hook.wait_for(1)
    for n in range(2, 9):  # the schedule's waits, passed on the server's clock
        server.clock.advance(hours=11)
        server.container.worker.wake()
        hook.wait_for(n)
    m.renew_token()  # the old one expired on the advanced clock
    (failed,) = deliveries(m, "failed", attempts=8)
    return code, str(failed["id"])


def rows(page: str) -> list[str]:
    """The cash-outs a list shows, by internalCode, in order."""
    return re.findall(r'<a href="/console/cash-outs/[^"]+"><code>([^<]+)</code>', page)


def test_the_search_finds_cash_outs_of_every_client_by_each_field(
    settling_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = new_merchant(settling_server, fund=1_000_00)
    b = new_merchant(settling_server, fund=1_000_00)
    first = wait_terminal(a, a.cash_out(destination=REJECTED).json()["internalCode"])
    assert first["status"] == "FAILED"  # the payee's bank said AC03
    loja = wait_terminal(b, b.cash_out(cash_out_body(payee=LOJA)).json()["internalCode"])
    paid = [wait_terminal(m, m.cash_out().json()["internalCode"]) for m in (a, b, a)]
    assert {p["status"] for p in paid} == {"COMPLETED"}
    console = signed_in(settling_server)
    get = console.http.get

    by_e2e = get("/console/cash-outs", params={"endToEndId": paid[1]["endToEndId"]})
    assert by_e2e.status_code == 200 and rows(by_e2e.text) == [paid[1]["internalCode"]]
    assert b.creds.client_id in by_e2e.text  # the client it belongs to, linked
    assert rows(get("/console/cash-outs", params={"internalCode": loja["internalCode"]}).text) == [
        loja["internalCode"]
    ]
    ref = get("/console/cash-outs", params={"externalReference": paid[2]["externalReference"]})
    assert rows(ref.text) == [paid[2]["internalCode"]]
    by_doc = get("/console/cash-outs", params={"payeeDocument": "12.ABC.345/01DE-35"})
    assert loja["internalCode"] in rows(by_doc.text)
    assert not {p["internalCode"] for p in paid} & set(rows(by_doc.text))
    failed = rows(get("/console/cash-outs", params={"status": "FAILED"}).text)
    assert first["internalCode"] in failed
    assert not {p["internalCode"] for p in paid} & set(failed)
    # The console reads dates in São Paulo: from 00:00 to 03:00 UTC it is yesterday there.
    day = settling_server.clock.now().astimezone(SAO_PAULO).date().isoformat()
    today = rows(get("/console/cash-outs", params={"from": day, "to": day}).text)
    assert {p["internalCode"] for p in paid} <= set(today)
    assert rows(get("/console/cash-outs", params={"to": "2020-01-01"}).text) == []

    # Keyset pages, newest first, across both clients: every one once, in order.
    monkeypatch.setattr(cashouts, "PAGE", 2)
    mine = {first["internalCode"], loja["internalCode"]} | {p["internalCode"] for p in paid}
    seen: list[str] = []
    page = get("/console/cash-outs", params={"from": day})
    while True:
        seen += rows(page.text)
        older = re.search(r'<a href="([^"]+)">Older</a>', page.text)
        if older is None:
            break
        page = get(html.unescape(older.group(1)))
        assert page.status_code == 200 and "Newest" in page.text
    assert len(seen) == len(set(seen))
    assert [c for c in seen if c in mine] == [
        paid[2]["internalCode"],
        paid[1]["internalCode"],
        paid[0]["internalCode"],
        loja["internalCode"],
        first["internalCode"],
    ]

    bad = get("/console/cash-outs", params={"payeeDocument": "123", "from": "yesterday"})
    assert bad.status_code == 400
    assert "payeeDocument" in bad.text and "from: a day, as YYYY-MM-DD" in bad.text
    assert get("/console/cash-outs", params={"after": "x" * 65}).status_code == 400
    console.close()
    for m in (a, b):
        m.close()


@pytest.mark.parametrize(
    ("search", "served_by"),
    [
        ({"internalCode": "ABC123"}, "internal_code"),  # its UNIQUE index
        ({"externalReference": "ref-1"}, "external_reference"),  # (reference, client)
        ({"endToEndId": "E1823612020261205"}, "end_to_end_id"),  # its UNIQUE index
        ({"payeeDocument": "12345678909", "from": "2026-12-01"}, "ix_cash_outs_payee_requested"),
        ({"status": "FAILED", "to": "2026-12-05"}, "ix_cash_outs_status_requested"),
        ({"from": "2026-12-01", "to": "2026-12-05"}, "ix_cash_outs_requested"),
        ({}, "ix_cash_outs_requested"),
    ],
)
def test_every_search_is_served_by_an_index(
    settling_server: RunningServer, search: dict[str, str], served_by: str
) -> None:
    """No full scan of cash_outs: SQLite's plan names an index for it; PostgreSQL, told
    to avoid sequential scans, finds an index (and the one expected) to use."""
    engine = settling_server.container.db.engine
    for after in (None, (settling_server.clock.now(), "x")):
        statement = search_statement(parse_query(search), after, 51)
        compiled = statement.compile(dialect=engine.dialect)
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                params: Any = tuple(compiled.params[k] for k in compiled.positiontup or [])
                plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params).all()
                steps = [str(row[-1]) for row in plan]
                scans = [s for s in steps if "cash_outs" in s and "INDEX" not in s]
            else:
                conn.execute(text("SET LOCAL enable_seqscan = off"))
                plan = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).all()
                steps = [str(row[0]) for row in plan]
                scans = [s for s in steps if "Seq Scan on cash_outs" in s]
        assert scans == [], steps
        assert served_by in " ".join(steps), steps


def test_a_cash_outs_timeline_shows_its_ledger_rail_and_webhook_attempts(
    settling_server: RunningServer,
) -> None:
    m = new_merchant(settling_server, fund=100_00)
    with receiver() as hook:
        hook.script = [(500, {})]  # the first attempt fails, the second succeeds
        body = m.cash_out(cash_out_body(amount="12.34", webhookUrl=hook.url)).json()
        done = wait_terminal(m, body["internalCode"])
        hook.wait_for(1)
        console = signed_in(settling_server)
        listed = console.http.get("/console/cash-outs", params={"endToEndId": done["endToEndId"]})
        (link,) = re.findall(r'href="(/console/cash-outs/[^"]+)"', listed.text)
        page = console.http.get(link)
    assert page.status_code == 200, page.text
    shown = page.text
    assert done["internalCode"] in shown and done["endToEndId"] in shown
    assert "R$ 12,34" in shown and "-03:00" in shown
    ledger = shown.split('id="transfers"')[1].split("</table>")[0]
    assert "<code>cash_out</code>" in ledger and "pending" in ledger
    rail = shown.split('id="rail"')[1].split("</table>")[0]
    assert "SETTLED" in rail and "R$ 12,34" in rail
    hooks = shown.split('id="deliveries"')[1].split("</table>")[0]
    assert "CASHOUT_COMPLETED" in hooks and hook.url in hooks
    assert "<strong>500</strong>" in hooks
    assert 'id="timeline"' in shown and "webhook" in shown
    # The fraud checks' decision that accepted it, each check with its inputs.
    checks = shown.split('id="checks"')[1].split("</table>")[0]
    assert "<code>fraud_markers</code>" in checks and "passed" in checks
    assert "<code>keyMarked</code> false" in checks and "failed" not in checks
    missing = console.http.get("/console/cash-outs/no-such-cash-out")
    assert missing.status_code == 404 and "No cash-out no-such-cash-out." in missing.text
    console.close()
    m.close()


def test_a_failed_delivery_is_retried_in_the_console_and_audited(
    settling_server: RunningServer,
) -> None:
    m = new_merchant(settling_server, fund=100_00)
    with receiver() as hook:
        code, delivery_id = failed_delivery(settling_server, m, hook)
        console = signed_in(settling_server)  # after the clock moved: a fresh session
        listed = console.http.get("/console/webhooks")
        assert listed.status_code == 200
        row = listed.text.split(f'id="delivery-{delivery_id}"')[1].split("</tr>")[0]
        assert "<strong>500</strong>" in row and m.creds.client_id in row and "8" in row

        action = f"/console/webhooks/{delivery_id}/retry"
        assert console.post(action, {"reason": "x"}).status_code == 403  # no CSRF token
        assert Console(settling_server).post(action, {"csrf": "x"}).status_code == 401
        token = console.csrf("/console/webhooks")
        unknown = console.post("/console/webhooks/nope/retry", {"csrf": token})
        assert unknown.status_code == 404 and "No webhook delivery nope." in unknown.text
        # Retried on its cash-out's page, the browser goes back there.
        page = f"/console/cash-outs/{m.get(f'/cash-out/{code}').json()['transactionId']}"
        done = console.post(action, {"csrf": token, "back": page})
        assert done.status_code == 303
        assert done.headers["location"] == f"{page}?retried={delivery_id}"
        shown = console.http.get(done.headers["location"]).text
        assert f"Sent again: <code>{delivery_id}</code>" in shown
        hook.wait_for(9)  # the worker sent it again
    (sent,) = deliveries(m, "succeeded")
    assert sent["id"] == delivery_id
    # Its endpoint deleted, a retry is refused, and the refusal is written too.
    gone = m.http.delete(f"/webhooks/{sent['endpointId']}", headers=m.headers(sign=False))
    assert gone.status_code in (200, 204), gone.text
    again = console.post(action, {"csrf": token})
    assert again.status_code == 409 and "is disabled" in again.text
    entries = settling_server.container.operators.audit_log(limit=10)
    (refused,) = [e for e in entries if e.action == "webhook.retry" and e.outcome == "refused"]
    assert refused.subject_id == delivery_id and refused.after is None
    assert refused.detail is not None and refused.detail.startswith("WEBHOOK_ENDPOINT_DISABLED")
    (entry,) = [e for e in entries if e.action == "webhook.retry" and e.outcome == "done"]
    assert entry.subject_kind == "webhook_delivery" and entry.subject_id == delivery_id
    assert entry.before is not None and entry.after is not None
    assert entry.before["status"] == "failed" and entry.before["attempts"] == 8
    assert entry.before["last_status_code"] == 500
    assert entry.after["status"] in ("pending", "succeeded")
    console.close()
    m.close()
