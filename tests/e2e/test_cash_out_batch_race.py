"""Concurrent batches and single cash-outs of one client, against a balance that cannot
pay them all, sent together (a barrier) to two servers on one database, each with its own
acceptance engine, on SQLite and PostgreSQL: money never goes negative, each batch takes
exactly the items it can afford in its own order, and a reference sent in several
batches at once is accepted once."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from connectpsp.settings import Settings
from tests.invariants import ledger_problems, risk_problems
from tests.support import Api, RunningServer, cash_out_body, new_merchant, running_server

BATCHES = 6
ITEMS = 8  # of 10.00 in each batch, after the two shared ones
SINGLES = 12
SHARED = ["shared-a", "shared-b"]


def fire_together(m: Api, urls: list[str], sends: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    barrier = threading.Barrier(len(sends))

    def send(numbered: tuple[int, tuple[str, dict[str, Any]]]) -> Any:
        number, (path, body) = numbered
        with httpx.Client(base_url=urls[number % len(urls)], timeout=120) as http:
            http.get("/healthz")  # connect before the barrier, so the POSTs start together
            headers = m.headers()
            barrier.wait()
            reply = http.post(path, json=body, headers=headers)
            assert reply.status_code in (200, 202, 409, 422), reply.text
            return reply.json()

    with ThreadPoolExecutor(max_workers=len(sends)) as pool:
        return list(pool.map(send, enumerate(sends)))


def test_batches_and_singles_race_for_one_balance(
    server: RunningServer, db_settings: Settings
) -> None:
    m = new_merchant(server, fund=100_05)  # ten of 10.00, and the shared 0.01s, always
    sends: list[tuple[str, dict[str, Any]]] = []
    for b in range(BATCHES):
        items = [cash_out_body(amount="0.01", reference=ref) for ref in SHARED]
        items += [cash_out_body(amount="10.00", reference=f"b{b}-{i}") for i in range(ITEMS)]
        sends.append(("/cash-out/batch", {"items": items}))
    sends += [("/cash-out", cash_out_body(amount="10.00")) for _ in range(SINGLES)]
    with running_server(db_settings) as other:
        replies = fire_together(m, [server.base_url, other.base_url], sends)

    batches, singles = replies[:BATCHES], replies[BATCHES:]
    tens_accepted = sum("internalCode" in s for s in singles)
    shared_codes: dict[str, list[str]] = {ref: [] for ref in SHARED}
    for reply in batches:
        results = reply["results"]
        assert len(results) == 2 + ITEMS
        for ref, result in zip(SHARED, results, strict=False):
            if result["status"] == 202:
                shared_codes[ref].append(result["cashOut"]["internalCode"])
            else:
                assert result["error"]["code"] == "DUPLICATE_EXTERNAL_REFERENCE", result
        tens = [r["status"] for r in results[2:]]
        # In its own order: the affordable ones, then nothing (all the same amount).
        accepted = tens.count(202)
        assert tens == [202] * accepted + [422] * (ITEMS - accepted), tens
        assert {r["error"]["code"] for r in results[2 + accepted :]} <= {"INSUFFICIENT_BALANCE"}
        tens_accepted += accepted
    refused = Counter(s["error"]["code"] for s in singles if "error" in s)
    assert set(refused) <= {"INSUFFICIENT_BALANCE"}, refused
    # Exactly what the balance pays: ten of 10.00, each shared reference once.
    assert tens_accepted == 10
    assert all(len(codes) == 1 for codes in shared_codes.values()), shared_codes
    for reply in batches:  # the refusals name the one that was accepted
        for ref, result in zip(SHARED, reply["results"], strict=False):
            if result["status"] == 409:
                assert result["error"]["details"] == {"internalCode": shared_codes[ref][0]}
    assert m.balance() == {
        "available": 0.03,
        "reserved": 100.02,
        "blocked": 0.00,
        "total": 100.05,
    }
    assert ledger_problems(server.container.db) == []
    assert risk_problems(server.container.db, [m.creds.client_id]) == []
