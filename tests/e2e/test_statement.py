"""GET /statement and GET /statement.csv (issue 17), through the real server with its
worker, on SQLite and PostgreSQL: every movement of the available balance in order, each
balanceAfter the one before plus its amount, a period's sum the change of GET /balance
between its ends, the CSV the same rows streamed a chunk at a time, and a statement
read page by page while concurrent writers add lines is a prefix of the final one."""

from __future__ import annotations

import csv
import io
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from connectpsp.api.routes import statement as statement_route
from connectpsp.domain.clock import iso_local
from connectpsp.domain.ledger import FeePlan
from connectpsp.service.statement import Listings
from tests.e2e.test_lists import FAILING_KEY, MARIA_KEY, field_of, items
from tests.support import Api, RunningServer, cash_out_body, new_merchant, wait_for, wait_terminal


def available(m: Api) -> Decimal:
    return Decimal(str(m.balance()["available"]))


def signed(line: dict[str, Any]) -> Decimal:
    amount = Decimal(str(line["amount"]))
    return amount if line["movementType"] == "CREDIT" else -amount


def received(m: Api, amount: str) -> tuple[str, str]:
    """A dynamic charge paid by the sandbox payer: (internalCode, endToEndId)."""
    fields = {"amount": amount, "externalReference": uuid.uuid4().hex[:12]}
    created = m.http.post("/cash-in", json=fields, headers=m.headers()).json()
    paid = m.http.post("/sandbox/pix/pay", json={"brCode": created["brCode"]}, headers=m.headers())
    assert paid.status_code == 201, paid.text
    return created["internalCode"], paid.json()["endToEndId"]


@pytest.fixture(scope="module")
def story(settling_server: RunningServer) -> Iterator[dict[str, Any]]:
    """Three periods an hour apart: a funding; then every kind of movement (cash-outs
    with fees, one failing, a cash-in with its fee, a return, a MED block and its refund);
    then one more cash-out. The available balance read at each period's end."""
    server = settling_server
    m = new_merchant(
        server,
        fund=100_00,
        fee=FeePlan(fixed=50),
        cash_in_fee=FeePlan(fixed=20),
        document="11144477735",
    )
    ends = [available(m)]
    starts = []
    for period in (1, 2):
        server.clock.advance(hours=1)
        m.renew_token()
        starts.append(iso_local(server.clock.now()))
        if period == 2:
            done = m.cash_out(cash_out_body(amount="1.00", destination=MARIA_KEY)).json()
            wait_terminal(m, done["internalCode"])
            ends.append(available(m))
            break
        paid = m.cash_out(cash_out_body(amount="10.00", destination=MARIA_KEY)).json()
        failed = m.cash_out(cash_out_body(amount="5.00", destination=FAILING_KEY)).json()
        wait_terminal(m, paid["internalCode"])
        wait_terminal(m, failed["internalCode"])
        back = m.http.post(
            f"/sandbox/cash-out/{paid['internalCode']}/return",
            json={"amount": "4.00", "reason": "MD06"},
            headers=m.headers(),
        )
        assert back.status_code == 201, back.text
        code, e2e = received(m, "20.00")
        reported = m.http.post(
            "/sandbox/med/infractions",
            json={"endToEndId": e2e, "amount": "8.00"},
            headers=m.headers(),
        )
        assert reported.status_code == 201, reported.text
        decided = server.container.infractions.accept(reported.json()["infractionId"], by="ana")
        refund = m.get(f"/cash-in/{code}/refunds/{decided.refund_id}")
        wait_for(lambda url=refund.url.path: m.get(url).json()["status"] == "COMPLETED")
        ends.append(available(m))
    yield {"m": m, "ends": ends, "starts": starts, "paid": paid, "failed": failed, "e2e": e2e}
    m.close()


def test_every_movement_in_order_and_each_balance_follows(story: dict[str, Any]) -> None:
    m = story["m"]
    lines = items(m, "/statement", limit=3)
    running = Decimal(0)
    for line in lines:
        running += signed(line)
        assert Decimal(str(line["balanceAfter"])) == running
        assert line["createdAt"].endswith("-03:00")
    assert running == available(m) == story["ends"][-1]
    assert len({line["movementId"] for line in lines}) == len(lines)
    kinds = [line["type"] for line in lines]
    assert kinds[0] == "SANDBOX_FUNDING"
    for expected in (
        "CASH_OUT",
        "CASH_OUT_FEE",
        "CASH_OUT_REVERSAL",
        "CASH_OUT_FEE_REVERSAL",
        "CASH_OUT_RETURN",
        "CASH_IN",
        "CASH_IN_FEE",
        "BLOCK",
        "BLOCK_RELEASE",
        "REFUND",
    ):
        assert expected in kinds, expected
    failed = [
        line for line in lines if line["subject"]["internalCode"] == story["failed"]["internalCode"]
    ]
    assert [(f["type"], f["movementType"], f["amount"]) for f in failed] == [
        ("CASH_OUT", "DEBIT", 5.0),
        ("CASH_OUT_FEE", "DEBIT", 0.5),
        ("CASH_OUT_REVERSAL", "CREDIT", 5.0),
        ("CASH_OUT_FEE_REVERSAL", "CREDIT", 0.5),
    ]
    assert all(f["subject"]["kind"] == "cash_out" for f in failed)
    paid = m.get(f"/cash-out/{story['paid']['internalCode']}").json()
    out = next(line for line in lines if line["type"] == "CASH_OUT" and line["amount"] == 10.0)
    assert out["endToEndId"] == paid["endToEndId"]
    returned = next(line for line in lines if line["type"] == "CASH_OUT_RETURN")
    assert returned["endToEndId"] == paid["returns"][0]["returnId"]
    cash_in = next(line for line in lines if line["type"] == "CASH_IN")
    assert (cash_in["endToEndId"], cash_in["subject"]["kind"]) == (story["e2e"], "cash_in")


def test_a_periods_movements_sum_to_the_change_in_balance(story: dict[str, Any]) -> None:
    m, ends, starts = story["m"], story["ends"], story["starts"]
    bounds: list[dict[str, str]] = [
        {"to": starts[0]},
        {"from": starts[0], "to": starts[1]},
        {"from": starts[1]},
    ]
    for n, period in enumerate(bounds):
        lines = items(m, "/statement", limit=2, **period)
        assert lines
        assert sum(signed(line) for line in lines) == ends[n] - (ends[n - 1] if n else 0)
        assert Decimal(str(lines[-1]["balanceAfter"])) == ends[n]
    whole = items(m, "/statement")
    assert len(whole) == sum(len(items(m, "/statement", **p)) for p in bounds)


def test_bad_statement_input_names_its_field(story: dict[str, Any]) -> None:
    m = story["m"]
    assert field_of(m.get("/statement", limit=0)) == ["limit"]
    assert field_of(m.get("/statement", **{"from": "12/01/2026"})) == ["from"]
    assert field_of(m.get("/statement.csv", to="2026-02-30")) == ["to"]
    cursor = m.get("/statement", limit=1).json()["nextCursor"]
    assert field_of(m.get("/statement", cursor=cursor, to="2030-01-01")) == ["cursor"]


def test_the_csv_streams_the_same_rows_a_chunk_at_a_time(
    story: dict[str, Any], settling_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CSV reads its lines 3 at a time here (CSV_CHUNK): each query returns at most
    3 rows, as many queries as the chunks need, never the whole period at once."""
    m = story["m"]
    lines = items(m, "/statement")
    reads: list[int] = []
    store = settling_server.container.listings._store
    original = store.movements

    def counted(*args: Any) -> Any:
        found = original(*args)
        reads.append(len(found))
        return found

    monkeypatch.setattr(statement_route, "CSV_CHUNK", 3)
    monkeypatch.setattr(store, "movements", counted)
    reply = m.http.get("/statement.csv", headers=m.headers(sign=False))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert len(rows) == len(lines) > 9
    assert max(reads) == 3 and len(reads) == len(lines) // 3 + 1
    for row, line in zip(rows, lines, strict=True):
        assert row["movementId"] == line["movementId"]
        assert (row["type"], row["movementType"]) == (line["type"], line["movementType"])
        assert Decimal(row["amount"]) == Decimal(str(line["amount"]))
        assert row["amount"] == f"{Decimal(str(line['amount'])):.2f}"  # plain: 10.00
        assert row["balanceAfter"] == f"{Decimal(str(line['balanceAfter'])):.2f}"
        assert row["createdAt"] == line["createdAt"] and row["createdAt"].endswith("-03:00")
        assert row["internalCode"] == (line["subject"]["internalCode"] or "")
    period = m.http.get(
        "/statement.csv", params={"from": story["starts"][1]}, headers=m.headers(sign=False)
    )
    assert len(list(csv.DictReader(io.StringIO(period.text)))) == len(
        items(m, "/statement", **{"from": story["starts"][1]})
    )


def test_a_body_sent_with_the_csv_request_never_cuts_the_csv_short(
    story: dict[str, Any], settling_server: RunningServer
) -> None:
    """A hostile client streams a body past the cap to the CSV (a GET): the answer has
    started, and listens for the client to go while it streams; refusing the body then
    could only break the answer mid-way (the hostile run saw a reset connection)."""
    m = story["m"]
    cap = settling_server.container.settings.max_body_bytes

    def chunks() -> Iterator[bytes]:
        for _ in range(cap // 1024 + 2):
            yield b"x" * 1024

    reply = m.http.request("GET", "/statement.csv", content=chunks(), headers=m.headers(sign=False))
    assert reply.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(reply.text)))) == len(items(m, "/statement"))


def test_paging_the_statement_under_concurrent_writers(settling_server: RunningServer) -> None:
    """Threads fund the account and send cash-outs, one stepping the clock back now and
    then, while a reader pages the statement from its start: each traversal is a prefix
    of the final statement (no line skipped, none repeated), each balance the last plus
    its amount."""
    m = new_merchant(settling_server, fund=1_000_00)
    writer = Api(m.server, m.creds)
    assert writer.token
    client_id = m.creds.client_id
    stop = threading.Event()
    problems: list[str] = []
    written: list[int] = []

    def fund() -> None:
        while not stop.is_set():
            settling_server.container.clients.fund(client_id, 1_00)
            written.append(1)
            settling_server.clock.advance(microseconds=-500 if len(written) % 3 else 900)

    def spend() -> None:
        while not stop.is_set():
            reply = writer.cash_out(cash_out_body(amount="0.50", destination=MARIA_KEY))
            if reply.status_code != 202:
                problems.append(reply.text)
            written.append(1)

    threads = [threading.Thread(target=f) for f in (fund, fund, spend)]
    for thread in threads:
        thread.start()
    traversals: list[list[Any]] = []
    try:
        while len(traversals) < 5 or len(written) < 60:
            traversals.append(items(m, "/statement", limit=7))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        writer.close()
    assert not problems
    final = items(m, "/statement", limit=1000)
    ids = [line["movementId"] for line in final]
    assert len(ids) == len(set(ids))
    running = Decimal(0)
    for line in final:
        running += signed(line)
        assert Decimal(str(line["balanceAfter"])) == running
    for seen in traversals:
        assert [line["movementId"] for line in seen] == ids[: len(seen)]
    assert len(traversals[-1]) > len(traversals[0])
    wait_for(lambda: Decimal(str(m.balance()["reserved"])) == 0)
    assert running == available(m)
    assert isinstance(settling_server.container.listings, Listings)
