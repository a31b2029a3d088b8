"""Truly concurrent requests: threads released together by a barrier, each on its own
connection to the real server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.support import Api, RunningServer, cash_out_body, new_merchant


def fire_together(
    m: Api, requests: list[tuple[dict[str, Any], dict[str, str]]]
) -> list[httpx.Response]:
    barrier = threading.Barrier(len(requests))

    def send(request: tuple[dict[str, Any], dict[str, str]]) -> httpx.Response:
        body, headers = request
        with httpx.Client(base_url=m.server.base_url, timeout=60) as http:
            http.get("/healthz")  # connect before the barrier, so the POSTs start together
            barrier.wait()
            return http.post("/cash-out", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def test_fifty_cash_outs_against_room_for_ten(server: RunningServer) -> None:
    m = new_merchant(server, fund=100_00)
    requests = [(cash_out_body(amount="10.00"), m.headers()) for _ in range(50)]
    replies = fire_together(m, requests)
    codes = [r.status_code for r in replies]
    assert codes.count(202) == 10, [r.text for r in replies if r.status_code not in (202, 422)]
    refused = [r.json()["error"]["code"] for r in replies if r.status_code != 202]
    assert refused == ["INSUFFICIENT_BALANCE"] * 40
    assert m.balance() == {"available": 0.00, "reserved": 100.00, "blocked": 0.00, "total": 100.00}
    with server.container.uow() as uow:
        from connectpsp.domain.ledger import client_account_code

        code = client_account_code(m.creds.client_id)
        assert uow.ledger.balance(code) == uow.ledger.summed_balance(code)


def test_thirty_identical_requests_make_one_cash_out(server: RunningServer) -> None:
    m = new_merchant(server, fund=1_000_00)
    body, key = cash_out_body(amount="10.00"), str(uuid.uuid4())
    headers = m.headers(key=key)
    replies = fire_together(m, [(body, headers)] * 30)
    created = [r for r in replies if r.status_code == 202]
    in_use = [r for r in replies if r.status_code == 409]
    assert len(created) + len(in_use) == 30
    assert all(r.json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE" for r in in_use)
    assert len({r.content for r in created}) == 1  # the one response, replayed
    assert sum("idempotent-replayed" not in r.headers for r in created) == 1
    assert m.balance()["reserved"] == 10.00
    found = m.get("/cash-out", externalReference=body["externalReference"])
    assert found.json()["internalCode"] == created[0].json()["internalCode"]
