"""What /metrics reads from the database at scrape time, on SQLite and PostgreSQL: the
settlement backlog and the webhook queue, each with its oldest entry's age, on a server
with no worker (settlement and expiry are run here, by hand). Also the label of a path no
route matches, a server with metrics off, and cash-ins counted and logged."""

from __future__ import annotations

import uuid
from dataclasses import replace

import httpx

from connectpsp.service.rail import IncomingPayment
from connectpsp.service.sandbox import SANDBOX_PAYER
from connectpsp.settings import Settings
from tests.metrics_support import routes, scrape, value, wait_for_log
from tests.support import RunningServer, cash_out_body, new_merchant, running_server


def test_the_backlog_and_the_webhook_queue_are_read_at_scrape_time(
    server: RunningServer,
) -> None:
    m = new_merchant(server, fund=100_00)
    start = scrape(server.base_url)
    assert value(start, "connectpsp_settlement_backlog") == 0
    assert value(start, "connectpsp_webhook_queue_depth") == 0
    reply = m.cash_out(cash_out_body(webhookUrl="http://127.0.0.1:9/hook"))
    assert reply.status_code == 202, reply.text
    server.clock.advance(seconds=90)
    waiting = scrape(server.base_url)
    assert value(waiting, "connectpsp_settlement_backlog") == 1
    assert 90 <= value(waiting, "connectpsp_settlement_oldest_age_seconds") < 120

    assert server.container.settlement.run_due() == 1  # settled: its webhook is queued
    server.clock.advance(seconds=30)
    queued = scrape(server.base_url)
    assert value(queued, "connectpsp_settlement_backlog") == 0
    assert value(queued, "connectpsp_settlement_oldest_age_seconds") == 0
    assert value(queued, "connectpsp_webhook_queue_depth") == 1
    assert 30 <= value(queued, "connectpsp_webhook_oldest_undelivered_age_seconds") < 60


def test_a_path_no_route_matches_is_counted_under_one_label(server: RunningServer) -> None:
    before = scrape(server.base_url)
    for n in range(3):
        assert httpx.get(f"{server.base_url}/no/such/{n}").status_code == 404
    after = scrape(server.base_url)
    name, labels = "connectpsp_http_requests_total", {"method": "GET", "status": "404"}
    moved = value(after, name, route="unmatched", **labels) - value(
        before, name, route="unmatched", **labels
    )
    assert moved == 3
    assert not any(route.startswith("/no/such") for route in routes(after))


def test_with_metrics_off_nothing_is_measured_or_served(
    server: RunningServer, db_settings: Settings
) -> None:
    with running_server(replace(db_settings, metrics=False)) as quiet:
        before = scrape(server.base_url)
        assert httpx.get(quiet.base_url + "/metrics").status_code == 404
        assert httpx.get(quiet.base_url + "/livez").status_code == 200
        after = scrape(server.base_url)
    name = "connectpsp_http_requests_total"
    labels = {"method": "GET", "route": "/livez", "status": "200"}
    assert value(after, name, **labels) == value(before, name, **labels)
    missing = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, name, **missing) == value(before, name, **missing)


def test_cash_ins_received_refused_and_expired_are_counted_and_logged(
    server: RunningServer,
) -> None:
    m = new_merchant(server, document="11144477735")
    key = m.http.post("/pix-keys", json={"type": "EVP"}, headers=m.headers()).json()["key"]
    before = scrape(server.base_url)
    paid = m.http.post(
        "/sandbox/pix/pay", json={"pixKey": key, "amount": "2.00"}, headers=m.headers()
    )
    assert paid.status_code == 201, paid.text
    e2e = paid.json()["endToEndId"]
    # A Pix the network brings for a key nobody here holds: refused with SPI's reason.
    stranger = IncomingPayment(
        end_to_end_id="E60701190202612050000" + uuid.uuid4().hex[:11],
        amount=1_00,
        payer=SANDBOX_PAYER,
        key="no-such-key@example.com",
        txid=None,
        paid_at=server.clock.now(),
    )
    refusal = server.container.network.pay_in(stranger)
    assert not refusal.accepted and refusal.reason
    charge = m.http.post(
        "/cash-in",
        json={"externalReference": "expiring", "amount": "3.00", "expiresIn": 60},
        headers=m.headers(),
    )
    assert charge.status_code == 201, charge.text
    server.clock.advance(seconds=61)
    assert server.container.cash_ins.expire_due() >= 1  # what the worker runs
    after = scrape(server.base_url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("connectpsp_cash_ins_received_total") == 1
    assert moved("connectpsp_cash_ins_refused_total", reason=refusal.reason) == 1
    assert moved("connectpsp_charges_expired_total") == 1
    [received] = wait_for_log(event="cash_in_received", end_to_end_id=e2e)
    assert (received["level"], received["client_id"], received["amount"]) == (
        "info",
        m.creds.client_id,
        200,
    )
    [refused] = wait_for_log(event="cash_in_refused", end_to_end_id=stranger.end_to_end_id)
    assert (refused["level"], refused["reason"]) == ("warning", refusal.reason)
    code = charge.json()["internalCode"]
    [expired] = wait_for_log(event="charge_expired", internal_code=code)
    assert (expired["level"], expired["client_id"]) == ("info", m.creds.client_id)
    for line in (received, refused, expired):
        assert "11144477735" not in str(line) and key not in str(line)
