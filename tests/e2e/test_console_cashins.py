"""The console's cash-ins and refunds over HTTP, on SQLite and PostgreSQL: the search
across clients by each field (and what each form of it is served by), keyset pages, a
cash-in's timeline (ledger, a refund and the rail's record of it, a MED block, webhook
attempts), the refunds list, and a failed delivery retried from a cash-in's page."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import pytest
from sqlalchemy import Select, text

from connectpsp.adapters.storage.console_cashin_reads import refunds_statement, search_statement
from connectpsp.console import cashins, refunds
from connectpsp.domain.cashin_search import parse_query, parse_refund_status
from connectpsp.domain.clock import SAO_PAULO
from tests.e2e.test_blocks import MARKED_PAYER
from tests.e2e.test_console import Console, signed_in
from tests.e2e.test_med import merchant, report
from tests.e2e.test_refunds import paid_charge, refund, wait_refund
from tests.receiver import receiver
from tests.support import Api, RunningServer

PAYER = {"name": "Ana Pagadora", "document": "11144477735", "ispb": "60701190"}


def rows(page: str) -> list[str]:
    """The cash-ins a list shows, by endToEndId, in order."""
    return re.findall(r'<a href="/console/cash-ins/([^"]+)"><code>', page)


def walk(console: Console, first: str, **params: str) -> list[str]:
    """Every page of a list from ``first`` on, following **Older**: the rows' ids."""
    seen: list[str] = []
    page = console.http.get(first, params=params)
    while True:
        assert page.status_code == 200, page.text
        seen += re.findall(r'<tr id="(?:cash-in|refund)-([^"]+)"', page.text)
        older = re.search(r'<a href="([^"]+)">Older</a>', page.text)
        if older is None:
            return seen
        page = console.http.get(html.unescape(older.group(1)))
        assert "Newest" in page.text


def later(server: RunningServer, *ms: Api) -> None:
    """Two seconds on the server's clock: the next record is newer than the last, even
    where SQLite keeps whole seconds."""
    server.clock.advance(seconds=2)
    for m in ms:
        m.renew_token()


def test_the_search_finds_cash_ins_of_every_client_by_each_field(
    settling_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = merchant(settling_server), merchant(settling_server)
    key = b.http.post("/pix-keys", json={"type": "EVP"}, headers=b.headers()).json()["key"]
    code1, e2e1 = paid_charge(a, "10.00", payer=PAYER)
    later(settling_server, a, b)
    paid = b.http.post(  # to a key alone, by a payer DICT marks: held at once
        "/sandbox/pix/pay",
        json={"pixKey": key, "amount": "5.00", "payer": MARKED_PAYER},
        headers=b.headers(),
    )
    assert paid.status_code == 201, paid.text
    e2e2 = paid.json()["endToEndId"]
    later(settling_server, a, b)
    code3, e2e3 = paid_charge(b, "7.00")
    accepted = refund(b, code3, amount="2.00")
    assert accepted.status_code == 202, accepted.text
    later(settling_server, a, b)
    _, e2e4 = paid_charge(a, "8.00")
    assert report(a, e2e4, amount="3.00").status_code == 201
    charge1, charge3 = a.get(f"/cash-in/{code1}").json(), b.get(f"/cash-in/{code3}").json()
    console = signed_in(settling_server)

    def found(**params: str) -> list[str]:
        page = console.http.get("/console/cash-ins", params=params)
        assert page.status_code == 200, page.text
        return rows(page.text)

    by_e2e = console.http.get("/console/cash-ins", params={"endToEndId": e2e3})
    assert rows(by_e2e.text) == [e2e3]
    assert b.creds.client_id in by_e2e.text and code3 in by_e2e.text  # its client and charge
    assert found(internalCode=code1) == [e2e1]
    assert found(txid=charge1["txid"]) == [e2e1]
    assert found(externalReference=charge3["externalReference"]) == [e2e3]
    by_payer = found(payerDocument="111.444.777-35")
    assert e2e1 in by_payer and not {e2e2, e2e3, e2e4} & set(by_payer)
    mine = {e2e1, e2e2, e2e3, e2e4}
    assert set(found(status="BLOCKED")) & mine == {e2e2, e2e4}  # a marker's, MED's
    assert set(found(status="REFUNDED")) & mine == {e2e3}
    assert set(found(status="MED")) & mine == {e2e4}
    # The console reads dates in São Paulo: from 00:00 to 03:00 UTC it is yesterday there.
    day = settling_server.clock.now().astimezone(SAO_PAULO).date().isoformat()
    assert mine <= set(found(**{"from": day, "to": day}))
    assert found(to="2020-01-01") == []
    assert found(endToEndId="E" + "0" * 31) == []
    shown = console.http.get("/console/cash-ins", params={"endToEndId": e2e4}).text
    assert "BLOCKED" in shown and "MED OPEN" in shown and "R$ 8,00" in shown

    # Keyset pages, newest first, across both clients: every one once, in order.
    monkeypatch.setattr(cashins, "PAGE", 2)
    seen = walk(console, "/console/cash-ins", **{"from": day})
    assert len(seen) == len(set(seen))
    assert [e for e in seen if e in mine] == [e2e4, e2e3, e2e2, e2e1]

    bad = console.http.get("/console/cash-ins", params={"payerDocument": "123", "status": "X"})
    assert bad.status_code == 400
    assert "payerDocument: a CPF (11 digits) or a CNPJ (14)" in bad.text
    assert "status: BLOCKED, REFUNDED or MED" in bad.text
    assert console.http.get("/console/cash-ins", params={"after": "x" * 65}).status_code == 400
    console.close()
    for m in (a, b):
        m.close()


def plan(server: RunningServer, statement: Select[Any]) -> list[str]:
    """The steps of ``statement``'s plan; PostgreSQL told to avoid sequential scans."""
    engine = server.container.db.engine
    compiled = statement.compile(
        dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
    )
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            params: Any = tuple(compiled.params[k] for k in compiled.positiontup or [])
            found = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params).all()
            return [str(row[-1]) for row in found]
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        found = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).all()
        return [str(row[0]) for row in found]


def scans(steps: list[str], table: str) -> list[str]:
    """The steps that read all of ``table``."""
    return [
        s
        for s in steps
        if f"Seq Scan on {table} " in s + " " or (f"SCAN {table}" in s and "INDEX" not in s)
    ]


@pytest.mark.parametrize(
    ("search", "served_by"),
    [
        ({"endToEndId": "E1823612020261205"}, "end_to_end_id"),  # the primary key
        ({"internalCode": "ABC123"}, "ix_cash_ins_charge"),  # the charge's, then its Pix
        ({"externalReference": "ref-1"}, "ix_cash_ins_charge"),
        ({"txid": "abc"}, "ix_cash_ins_txid"),
        ({"payerDocument": "12345678909", "from": "2026-12-01"}, "ix_cash_ins_payer_received"),
        ({"status": "BLOCKED"}, "ix_balance_blocks_released"),
        ({"status": "REFUNDED", "to": "2026-12-05"}, "ix_cash_in_refunds_status"),
        ({"status": "MED"}, "med_infractions"),
        ({"from": "2026-12-01", "to": "2026-12-05"}, "ix_cash_ins_received"),
        ({}, "ix_cash_ins_received"),
    ],
)
def test_every_search_is_served_by_an_index(
    settling_server: RunningServer, search: dict[str, str], served_by: str
) -> None:
    """No full scan of cash_ins (nor of the tables a status is read from)."""
    for after in (None, (settling_server.clock.now(), "x")):
        steps = plan(settling_server, search_statement(parse_query(search), after, 51))
        for table in ("cash_ins", "charges", "balance_blocks", "cash_in_refunds"):
            assert scans(steps, table) == [], steps
        assert served_by in " ".join(steps), steps


@pytest.mark.parametrize(
    ("status", "served_by"),
    [("", "ix_cash_in_refunds_requested"), ("FAILED", "ix_cash_in_refunds_status")],
)
def test_the_refunds_list_is_served_by_an_index(
    settling_server: RunningServer, status: str, served_by: str
) -> None:
    for after in (None, (settling_server.clock.now(), "x")):
        query = refunds_statement(parse_refund_status({"status": status}), after, 51)
        steps = plan(settling_server, query)
        assert scans(steps, "cash_in_refunds") == [], steps
        assert served_by in " ".join(steps), steps


def section(page: str, name: str) -> str:
    return page.split(f'id="{name}"')[1].split("</table>")[0]


def test_a_cash_ins_timeline_shows_its_ledger_refund_med_block_and_webhooks(
    settling_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = merchant(settling_server)  # a cash-in fee of R$ 0,20
    with receiver() as hook:
        hook.script = [(500, {})]  # the first attempt fails
        code, e2e = paid_charge(m, "10.00", charge={"webhookUrl": hook.url})
        hook.wait_for(1)
        refund_id = refund(m, code, amount="3.00").json()["refundId"]
        assert wait_refund(m, code, refund_id)["status"] == "COMPLETED"
        later(settling_server, m)
        infraction = report(m, e2e, amount="4.00", details="golpe").json()["infractionId"]
        console = signed_in(settling_server)
        listed = console.http.get("/console/cash-ins", params={"endToEndId": e2e})
        (link,) = re.findall(r'href="(/console/cash-ins/[^"]+)"', listed.text)
        page = console.http.get(link)
    assert page.status_code == 200, page.text
    shown = page.text
    assert e2e in shown and code in shown and "-03:00" in shown
    assert "R$ 10,00" in shown and "R$ 0,20" in shown and "R$ 9,80" in shown
    assert "BLOCKED" in shown and "PARTLY REFUNDED" in shown and "MED OPEN" in shown
    ledger = section(shown, "transfers")
    for code_ in ("cash_in", "cash_in_fee", "cash_in_refund", "block"):
        assert f"<code>{code_}</code>" in ledger, code_
    assert "post_pending" in ledger  # the refund's reservation, posted when SPI settled it
    blocks = section(shown, "blocks")
    assert "MED" in blocks and "R$ 4,00" in blocks and "held" in blocks
    med = section(shown, "infraction")
    assert infraction in med and "OPEN" in med and "golpe" in med
    refunded = section(shown, "refunds")
    assert refund_id in refunded and "ORIGINAL" in refunded and "COMPLETED" in refunded
    assert "R$ 3,00" in refunded
    rail = section(shown, "rail")
    assert "SETTLED" in rail and "R$ 3,00" in rail  # the refund's return, on the simulated SPI
    hooks = section(shown, "deliveries")
    assert "CASHIN_COMPLETED" in hooks and hook.url in hooks and "<strong>500</strong>" in hooks
    timeline = section(shown, "timeline")
    for source in ("cash-in", "ledger", "block", "MED", "refund", "rail", "webhook"):
        assert f"<td>{source}</td>" in timeline, source
    assert timeline.index("credited") < timeline.index("ORIGINAL asked")
    assert timeline.index("ORIGINAL asked") < timeline.index("MED block")
    missing = console.http.get("/console/cash-ins/nope")
    assert missing.status_code == 404 and "No cash-in nope." in missing.text

    # MED accepted: the block goes back to the payer as a FRAUD refund, listed too.
    later(settling_server, m)
    decided = settling_server.container.infractions.accept(infraction, by="ana")
    assert decided.refund_id is not None
    deadline = time.monotonic() + 15
    while m.get(f"/refunds/{decided.refund_id}").json()["status"] == "PROCESSING":
        assert time.monotonic() < deadline, "the MED refund was not sent"
        time.sleep(0.02)
    after = console.http.get(link).text
    assert "MED ACCEPTED" in after and "PARTLY REFUNDED" in after  # R$ 7,00 of R$ 10,00
    assert "MED (FRAUD)" in section(after, "refunds") and "held" not in section(after, "blocks")
    listed = console.http.get("/console/refunds")
    assert listed.status_code == 200
    for rid, reason in ((refund_id, "ORIGINAL"), (decided.refund_id, "MED (FRAUD)")):
        row = listed.text.split(f'id="refund-{rid}"')[1].split("</tr>")[0]
        assert f'href="/console/cash-ins/{e2e}"' in row and reason in row and code in row
        assert m.creds.client_id in row and "COMPLETED" in row
    monkeypatch.setattr(refunds, "PAGE", 1)
    seen = walk(console, "/console/refunds", status="COMPLETED")
    assert len(seen) == len(set(seen))
    assert [r for r in seen if r in (refund_id, decided.refund_id)] == [
        decided.refund_id,
        refund_id,
    ]
    assert refund_id not in walk(console, "/console/refunds", status="FAILED")
    bad = console.http.get("/console/refunds", params={"status": "DONE"})
    assert bad.status_code == 400 and "status: PROCESSING, COMPLETED or FAILED" in bad.text
    console.close()
    m.close()


def test_a_failed_delivery_is_retried_from_its_cash_ins_page(
    settling_server: RunningServer,
) -> None:
    m = merchant(settling_server)
    with receiver() as hook:
        hook.script = [(410, {})]  # Gone: the charge's own webhookUrl fails at once
        _, e2e = paid_charge(m, "5.00", charge={"webhookUrl": hook.url})
        hook.wait_for(1)
        console = signed_in(settling_server)
        page = f"/console/cash-ins/{e2e}"
        deadline = time.monotonic() + 15
        while 'class="retry"' not in (shown := console.http.get(page).text):
            assert time.monotonic() < deadline, "the delivery did not fail"
            time.sleep(0.05)
        (delivery_id,) = re.findall(r'action="/console/webhooks/([^/]+)/retry"', shown)
        action = f"/console/webhooks/{delivery_id}/retry"

        assert console.post(action, {"back": page}).status_code == 403  # no CSRF token
        assert Console(settling_server).post(action, {"csrf": "x", "back": page}).status_code == 401
        token = console.csrf(page)
        done = console.post(action, {"csrf": token, "back": page})
        assert done.status_code == 303
        assert done.headers["location"] == f"{page}?retried={delivery_id}"
        again = console.http.get(done.headers["location"]).text
        assert f"Sent again: <code>{delivery_id}</code>" in again
        hook.wait_for(2)  # the worker sent it again; the receiver answered 200
    entries = settling_server.container.operators.audit_log(limit=20)
    (entry,) = [e for e in entries if e.subject_id == delivery_id and e.outcome == "done"]
    assert entry.action == "webhook.retry"
    assert entry.before is not None and entry.before["status"] == "failed"
    console.close()
    m.close()


def test_logged_out_requests_are_sent_to_the_login_form(settling_server: RunningServer) -> None:
    stranger = Console(settling_server)
    for path in ("/console/cash-ins", "/console/cash-ins/E123", "/console/refunds"):
        answer = stranger.http.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == f"/console/login?next={path}"
    stranger.close()
