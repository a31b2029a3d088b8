"""/metrics on the real server, on SQLite and PostgreSQL: the request and cash-out
counters move when real cash-outs settle and fail, by route template and failure code;
webhook attempts are counted by outcome; and each state change is in the business log
at its level, with the client id and internalCode and never the payee's document."""

from __future__ import annotations

import time

from tests.metrics_support import routes, scrape, value, wait_for_log
from tests.receiver import receiver
from tests.support import RunningServer, cash_out_body, new_merchant, wait_terminal

DOCUMENT = "12345678909"  # the payee's CPF in every cash-out body here
AC03 = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "ac03@sandbox.connectpsp.dev"}


def test_a_settled_and_a_failed_cash_out_move_the_counters(
    settling_server: RunningServer,
) -> None:
    m = new_merchant(settling_server, fund=100_00)
    m.token  # noqa: B018 - the token request is not part of what is measured
    before = scrape(settling_server.base_url)
    paid = m.cash_out(amount="10.00")
    failed = m.cash_out(cash_out_body(amount="5.00", destination=AC03))
    assert (paid.status_code, failed.status_code) == (202, 202), failed.text
    codes = paid.json()["internalCode"], failed.json()["internalCode"]
    assert wait_terminal(m, codes[0])["status"] == "COMPLETED"
    assert wait_terminal(m, codes[1])["failure"]["code"] == "INVALID_ACCOUNT"
    after = scrape(settling_server.base_url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "connectpsp_http_requests_total"
    assert moved(requests, method="POST", route="/cash-out", status="202") == 2
    reads = moved(requests, method="GET", route="/cash-out/{internalCode}", status="200")
    assert reads >= 2
    timed = "connectpsp_http_request_duration_seconds_count"
    assert moved(timed, method="GET", route="/cash-out/{internalCode}") == reads
    # The route's template, never the path a client sent.
    assert not any(code in route for route in routes(after) for code in codes)
    assert moved("connectpsp_cash_outs_accepted_total") == 2
    assert moved("connectpsp_cash_outs_completed_total") == 1
    assert moved("connectpsp_cash_outs_failed_total", code="INVALID_ACCOUNT") == 1
    assert value(after, "connectpsp_settlement_backlog") == 0
    assert value(after, "connectpsp_db_pool_capacity") > 0
    assert value(after, "connectpsp_db_pool_connections_open") > 0


def test_each_state_change_is_logged_at_its_level_without_the_document(
    settling_server: RunningServer,
) -> None:
    m = new_merchant(settling_server, fund=100_00)
    paid = m.cash_out(amount="10.00").json()["internalCode"]
    failed = m.cash_out(cash_out_body(amount="5.00", destination=AC03)).json()["internalCode"]
    wait_terminal(m, paid)
    wait_terminal(m, failed)
    expected = [
        (paid, "cash_out_accepted", "info"),
        (paid, "cash_out_completed", "info"),
        (failed, "cash_out_accepted", "info"),
        (failed, "cash_out_failed", "warning"),
    ]
    for code, event, level in expected:
        [line] = wait_for_log(event=event, internal_code=code)
        assert (line["level"], line["client_id"]) == (level, m.creds.client_id)
        assert DOCUMENT not in str(line.values())
    [failure] = wait_for_log(event="cash_out_failed", internal_code=failed)
    assert (failure["code"], failure["spi_reason_code"]) == ("INVALID_ACCOUNT", "AC03")


def test_webhook_attempts_are_counted_and_logged_by_outcome(
    settling_server: RunningServer,
) -> None:
    m = new_merchant(settling_server, fund=100_00)
    before = scrape(settling_server.base_url)
    with receiver() as hooks:
        # A failure that will be tried again, then a 410: the message is given up.
        hooks.script = [(500, {}), (410, {})]
        reply = m.cash_out(cash_out_body(webhookUrl=hooks.url + "/gone"))
        code = reply.json()["internalCode"]
        wait_terminal(m, code)
        hooks.wait_for(1)
        [retrying] = wait_for_log(event="webhook_attempt_failed", client_id=m.creds.client_id)
        settling_server.clock.advance(hours=1)  # the retry is due
        hooks.wait_for(2)
        [given_up] = wait_for_log(event="webhook_given_up", client_id=m.creds.client_id)
    assert (retrying["level"], retrying["status_code"], retrying["attempt"]) == ("warning", 500, 1)
    assert (given_up["level"], given_up["status_code"], given_up["attempt"]) == ("error", 410, 2)
    deadline = time.monotonic() + 10
    while True:
        after = scrape(settling_server.base_url)
        outcomes = {
            outcome: value(after, "connectpsp_webhook_attempts_total", outcome=outcome)
            - value(before, "connectpsp_webhook_attempts_total", outcome=outcome)
            for outcome in ("delivered", "retrying", "given_up")
        }
        if outcomes["given_up"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert outcomes == {"delivered": 0, "retrying": 1, "given_up": 1}
    assert value(after, "connectpsp_webhook_queue_depth") == 0
