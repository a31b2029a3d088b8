"""What /metrics reads from the database at scrape time, on SQLite and PostgreSQL: the
settlement backlog and the webhook queue, each with its oldest entry's age, on a server
with no worker (settlement is run here, by hand). Also the label of a path no route
matches, and a server with metrics off."""

from __future__ import annotations

from dataclasses import replace

import httpx

from connectpsp.settings import Settings
from tests.metrics_support import routes, scrape, value
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
