"""GET /cash-out and GET /cash-in as cursor-paginated lists (issue 17), through the real
server on SQLite and PostgreSQL: newest first, filters, paging, limit bounds, bad input
naming its field, a cursor refused with other filters, the single-object answer kept
for externalReference alone, and paging that skips and repeats nothing while
concurrent writers add items."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectpsp.domain.ledger import FeePlan
from tests.e2e.test_sdk import psp_for
from tests.support import Api, RunningServer, cash_out_body, new_merchant, wait_terminal

MARIA_KEY = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "maria.silva@sandbox.connectpsp.dev"}
FAILING_KEY = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "ac06@sandbox.connectpsp.dev"}


def pages(m: Api, path: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every page of a list, following nextCursor with the same filters."""
    cursor = None
    while True:
        reply = m.get(path, **params, **({"cursor": cursor} if cursor else {}))
        assert reply.status_code == 200, reply.text
        page = reply.json()
        yield page
        cursor = page["nextCursor"]
        if cursor is None:
            return


def items(m: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    return [item for page in pages(m, path, **params) for item in page["items"]]


def field_of(reply: Any) -> list[str]:
    assert reply.status_code == 400, reply.text
    return [d["field"] for d in reply.json()["error"]["details"]]


@pytest.fixture(scope="module")
def shop(settling_server: RunningServer) -> Iterator[tuple[Api, list[dict[str, Any]]]]:
    """A merchant with seven cash-outs, two of them FAILED, an hour apart in two groups."""
    m = new_merchant(settling_server, fund=1_000_00, fee=FeePlan(fixed=10))
    made = []
    for n in range(7):
        if n == 4:
            settling_server.clock.advance(hours=1)
            m.renew_token()
        destination = FAILING_KEY if n in (1, 5) else MARIA_KEY
        reply = m.cash_out(cash_out_body(amount=f"{n + 1}.00", destination=destination))
        assert reply.status_code == 202, reply.text
        made.append(wait_terminal(m, reply.json()["internalCode"]))
    yield m, made
    m.close()


def test_cash_outs_list_newest_first_in_pages(shop: tuple[Api, list[dict[str, Any]]]) -> None:
    m, made = shop
    found = list(pages(m, "/cash-out", limit=3))
    assert [len(p["items"]) for p in found] == [3, 3, 1]
    listed = [item for page in found for item in page["items"]]
    assert [i["internalCode"] for i in listed] == [c["internalCode"] for c in reversed(made)]
    # The same view GET /cash-out/{internalCode} gives.
    assert listed[0] == m.get(f"/cash-out/{listed[0]['internalCode']}").json()
    whole = m.get("/cash-out").json()
    assert whole["nextCursor"] is None and len(whole["items"]) == 7


def test_cash_outs_filter_by_status_reference_and_time(
    shop: tuple[Api, list[dict[str, Any]]],
) -> None:
    m, made = shop
    failed = items(m, "/cash-out", status="FAILED", limit=1)
    assert [i["internalCode"] for i in failed] == [made[5]["internalCode"], made[1]["internalCode"]]
    assert all(i["status"] == "FAILED" for i in failed)
    one = m.get("/cash-out", externalReference=made[2]["externalReference"], limit=5).json()
    assert [i["internalCode"] for i in one["items"]] == [made[2]["internalCode"]]
    # An hour apart: the first four before the clock moved, the last three after.
    last = made[4]["requestedAt"]
    later = items(m, "/cash-out", **{"from": last})
    assert [i["internalCode"] for i in later] == [c["internalCode"] for c in reversed(made[4:])]
    earlier = items(m, "/cash-out", to=last)
    assert [i["internalCode"] for i in earlier] == [c["internalCode"] for c in reversed(made[:4])]
    # A date without an offset is read in -03:00; as ``to``, it means the whole day.
    # requestedAt is in -03:00, so its first ten characters are that day (the hour
    # between the two groups may cross midnight there).
    first_day, last_day = made[0]["requestedAt"][:10], made[-1]["requestedAt"][:10]
    assert len(items(m, "/cash-out", **{"from": first_day, "to": last_day})) == 7
    assert items(m, "/cash-out", **{"from": last_day, "to": last_day}) == [
        i for i in later + earlier if i["requestedAt"][:10] == last_day
    ]
    assert items(m, "/cash-out", status="COMPLETED", to=last[:19]) == [
        i for i in earlier if i["status"] == "COMPLETED"
    ]


def test_external_reference_alone_still_answers_one_cash_out(
    shop: tuple[Api, list[dict[str, Any]]],
) -> None:
    m, made = shop
    reply = m.get("/cash-out", externalReference=made[0]["externalReference"])
    assert reply.status_code == 200
    assert reply.json()["internalCode"] == made[0]["internalCode"]
    assert m.get("/cash-out", externalReference="no-such-reference").status_code == 404
    listed = m.get("/cash-out", externalReference="no-such-reference", limit=10)
    assert listed.json() == {"items": [], "nextCursor": None}


def test_bad_list_input_names_its_field(shop: tuple[Api, list[dict[str, Any]]]) -> None:
    m, _ = shop
    assert field_of(m.get("/cash-out", limit=0)) == ["limit"]
    assert field_of(m.get("/cash-out", limit=1001)) == ["limit"]
    assert field_of(m.get("/cash-out", limit="ten")) == ["limit"]
    assert field_of(m.get("/cash-out", status="LOST")) == ["status"]
    assert field_of(m.get("/cash-out", **{"from": "yesterday"})) == ["from"]
    assert field_of(m.get("/cash-out", **{"from": "2026-13-01"})) == ["from"]
    assert field_of(m.get("/cash-out", to="2026-12-01T25:00:00")) == ["to"]
    assert field_of(m.get("/cash-out", **{"from": "2026-12-02", "to": "2026-11-30"})) == ["to"]
    assert field_of(m.get("/cash-out", cursor="not-a-cursor")) == ["cursor"]
    assert field_of(m.get("/cash-in", status="PAID")) == ["status"]
    assert len(m.get("/cash-out", limit=1000).json()["items"]) == 7


def test_a_cursor_works_only_with_its_own_filters(shop: tuple[Api, list[dict[str, Any]]]) -> None:
    m, _ = shop
    cursor = m.get("/cash-out", limit=2).json()["nextCursor"]
    assert m.get("/cash-out", limit=5, cursor=cursor).status_code == 200  # limit may change
    other = m.get("/cash-out", status="COMPLETED", cursor=cursor)
    assert field_of(other) == ["cursor"]
    assert "other filters" in other.json()["error"]["details"][0]["message"]
    # A cursor of one list is not one of another.
    assert field_of(m.get("/cash-in", cursor=cursor)) == ["cursor"]
    assert field_of(m.get("/statement", cursor=cursor)) == ["cursor"]


def test_charges_list_newest_first_with_filters(settling_server: RunningServer) -> None:
    m = new_merchant(settling_server, document="11144477735")
    codes = []
    for n in range(5):
        body = {"externalReference": f"order-{n}", "amount": f"{n + 1}.00", "expiresIn": 600}
        reply = m.http.post("/cash-in", json=body, headers=m.headers())
        assert reply.status_code == 201, reply.text
        codes.append(reply.json())
    paid = m.http.post("/sandbox/pix/pay", json={"brCode": codes[1]["brCode"]}, headers=m.headers())
    assert paid.status_code == 201, paid.text
    cancelled = m.http.delete(f"/cash-in/{codes[3]['internalCode']}", headers=m.headers(sign=False))
    assert cancelled.status_code == 200, cancelled.text
    listed = items(m, "/cash-in", limit=2)
    assert [c["internalCode"] for c in listed] == [c["internalCode"] for c in reversed(codes)]
    assert listed[3] == m.get(f"/cash-in/{codes[1]['internalCode']}").json()  # with its payment
    assert len(listed[3]["payments"]) == 1
    assert [c["internalCode"] for c in items(m, "/cash-in", status="COMPLETED")] == [
        codes[1]["internalCode"]
    ]
    assert [c["internalCode"] for c in items(m, "/cash-in", status="CANCELLED")] == [
        codes[3]["internalCode"]
    ]
    # externalReference alone: the charge itself, as before lists.
    assert (
        m.get("/cash-in", externalReference="order-2").json()["internalCode"]
        == (codes[2]["internalCode"])
    )
    assert items(m, "/cash-in", externalReference="order-2", limit=3)[0]["externalReference"] == (
        "order-2"
    )


def test_paging_under_concurrent_writers_skips_and_repeats_nothing(
    settling_server: RunningServer,
) -> None:
    """Writers in threads add cash-outs (and move the clock) while a reader pages from the
    newest down, page after page. Each traversal is the final list with only the items
    committed after it began left out, at the head: nothing skipped in the middle,
    nothing repeated."""
    m = new_merchant(settling_server, fund=1_000_000_00)
    for _ in range(6):
        assert m.cash_out(cash_out_body(amount="1.00", destination=MARIA_KEY)).status_code == 202
    writers = [new_merchant_view(m) for _ in range(3)]
    for w in writers:
        assert w.token  # before the race: a token takes argon2's time
    stop = threading.Event()
    problems: list[str] = []
    written: list[int] = []

    def write(api: Api) -> None:
        while not stop.is_set():
            reply = api.cash_out(cash_out_body(amount="1.00", destination=MARIA_KEY))
            if reply.status_code != 202:
                problems.append(reply.text)
            written.append(1)
            # The clock steps back now and then: order must not come from it.
            settling_server.clock.advance(microseconds=-300 if len(written) % 3 else 700)

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    traversals: list[list[Any]] = []
    try:
        while len(traversals) < 5 or len(written) < 40:
            traversals.append([i["internalCode"] for i in items(m, "/cash-out", limit=4)])
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for w in writers:
            w.close()
    assert not problems
    final = [i["internalCode"] for i in items(m, "/cash-out", limit=1000)]
    assert len(final) == len(set(final)) > 6
    for seen in traversals:
        assert len(seen) == len(set(seen))
        assert seen == final[len(final) - len(seen) :]
    assert len(traversals[-1]) > len(traversals[0])


def new_merchant_view(m: Api) -> Api:
    """Another connection for the same merchant (its own HTTP client)."""
    return Api(m.server, m.creds)


def test_a_client_sees_only_its_own_items(
    settling_server: RunningServer, shop: tuple[Api, list[dict[str, Any]]]
) -> None:
    stranger = new_merchant(settling_server)
    assert stranger.get("/cash-out").json() == {"items": [], "nextCursor": None}
    assert stranger.get("/cash-in").json() == {"items": [], "nextCursor": None}
    assert stranger.get("/statement").json() == {"items": [], "nextCursor": None}
    m, _ = shop
    cursor = m.get("/cash-out", limit=1).json()["nextCursor"]
    assert stranger.get("/cash-out", limit=1, cursor=cursor).json()["items"] == []
    stranger.close()
    assert timedelta(0) == timedelta(0)


def test_the_sdk_walks_every_page(shop: tuple[Api, list[dict[str, Any]]]) -> None:
    """``for co in psp.cash_outs.list(...)`` on the real server, and ``async for``."""
    m, made = shop
    with psp_for(m) as psp:
        failed = [co.internal_code for co in psp.cash_outs.list(status="FAILED", page_size=1)]
        every = list(psp.cash_outs.list(page_size=3))
        lines = list(psp.statement.list(page_size=2))
        csv_text = psp.statement.csv().decode()
    assert failed == [made[5]["internalCode"], made[1]["internalCode"]]
    assert [co.internal_code for co in every] == [c["internalCode"] for c in reversed(made)]
    assert lines[-1].balance_after == Decimal(str(m.balance()["available"]))
    assert csv_text.count("\r\n") == len(lines) + 1

    async def walk() -> list[str]:
        async with psp_for(m, async_=True) as psp:
            return [co.internal_code async for co in psp.cash_outs.list(page_size=4)]

    assert asyncio.run(walk()) == [co.internal_code for co in every]
