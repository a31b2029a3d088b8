"""Webhooks through the real server to real receivers on loopback: both seed shapes,
Standard Webhooks signatures, retries, restarts, replay, rotation, and the SSRF guard."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from connectpsp.adapters.crypto import AesGcmCipher
from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.webhook_http import AddressGuard, HttpSender
from connectpsp.domain.ledger import FeePlan
from connectpsp.logs import get_logger
from connectpsp.settings import Settings
from connectpsp.worker.dispatcher import WebhookDispatcher
from tests.receiver import Receiver, receiver, signed_by_any
from tests.support import (
    Api,
    FakeClock,
    RunningServer,
    new_merchant,
    running_server,
    wait_terminal,
)

# Tens of seconds: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow

MARIA_KEY = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "maria.silva@sandbox.connectpsp.dev"}
BLOCKED_KEY = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "ac06@sandbox.connectpsp.dev"}


@pytest.fixture
def hooks(db_settings: Settings) -> Iterator[tuple[RunningServer, Receiver]]:
    with receiver() as hook, running_server(db_settings, worker=True) as server:
        yield server, hook


def register(
    m: Api, url: str, events: list[str] | None = None, *, hook: Receiver | None = None
) -> dict[str, Any]:
    """Register ``url``; with ``hook``, that receiver checks the signature of every
    delivery to the URL's path against the endpoint's secret."""
    payload: dict[str, Any] = {"url": url}
    if events is not None:
        payload["events"] = events
    reply = m.http.post("/webhooks", json=payload, headers=m.headers(sign=False))
    assert reply.status_code == 201, reply.text
    if hook is not None:
        hook.expect(reply.json()["secret"], urlsplit(url).path or "/")
    return dict(reply.json())


def verify(secret: str, received: Any) -> Any:
    return Webhook(secret).verify(received.body, received.headers)


def deliveries(
    m: Api, status: str, count: int = 1, attempts: int = 0, timeout: float = 10
) -> list[dict[str, Any]]:
    """The client's deliveries in ``status`` once there are ``count``, each with at least
    ``attempts`` recorded: the receiver sees a request a moment before the worker records
    its attempt, and a delivery is already pending before its first attempt."""
    deadline = time.monotonic() + timeout
    while True:
        found: list[dict[str, Any]] = m.get("/webhooks/deliveries", status=status).json()["data"]
        if len(found) >= count and all(len(d["attempts"]) >= attempts for d in found):
            return found
        assert time.monotonic() < deadline, f"{len(found)} {status} deliveries, not {count}"
        time.sleep(0.02)


def advance(server: RunningServer, **delta: float) -> None:
    server.clock.advance(**delta)
    server.container.worker.wake()


def test_seed_000_events_to_the_cash_outs_webhook_url(hooks) -> None:
    server, hook = hooks
    m = new_merchant(server, fund=1_000_00)
    hook.expect(m.creds.webhook_secret, "/webhooks/connectpsp")
    ok = m.cash_out(
        amount="50.00",
        reference="withdrawal-user-42-001",
        webhookUrl=f"{hook.url}/webhooks/connectpsp",
    ).json()
    bad = m.cash_out(
        amount="50.00",
        reference="withdrawal-user-42-002",
        destination=BLOCKED_KEY,
        webhookUrl=f"{hook.url}/webhooks/connectpsp",
    ).json()
    done = wait_terminal(m, ok["internalCode"])
    failed = wait_terminal(m, bad["internalCode"])
    got = {r.json()["data"]["internalCode"]: r for r in hook.wait_for(2)}

    completed = got[ok["internalCode"]]
    event = verify(m.creds.webhook_secret, completed)  # signed with the client's webhookSecret
    assert completed.path == "/webhooks/connectpsp"
    assert list(event) == ["eventType", "eventAt", "data"]
    assert event["eventType"] == "CASHOUT_COMPLETED"
    assert event["eventAt"].endswith("Z")
    assert event["data"] == {
        "internalCode": ok["internalCode"],
        "externalReference": "withdrawal-user-42-001",
        "endToEndId": done["endToEndId"],
        "status": "COMPLETED",
        "amount": 50.0,
        "payee": {
            "name": "Maria Silva",
            "document": "***.456.789-**",
            "destination": {"type": "PIX", "pixKeyType": "CPF", "pixKey": "12345678909"},
        },
        "requestedAt": ok["requestedAt"],
        "paidAt": done["paidAt"],
    }
    assert b'"amount":50.00,' in completed.body

    failure = verify(m.creds.webhook_secret, got[bad["internalCode"]])
    assert failure["eventAt"].endswith("Z")
    assert failure == {
        "eventType": "CASHOUT_FAILED",
        "eventAt": failure["eventAt"],
        "data": {
            "internalCode": bad["internalCode"],
            "externalReference": "withdrawal-user-42-002",
            "endToEndId": None,
            "status": "FAILED",
            "amount": 50.0,
            "payee": {
                "name": "Maria Silva",
                "document": "***.456.789-**",
                "destination": BLOCKED_KEY,
            },
            "requestedAt": bad["requestedAt"],
            "paidAt": None,
            "failure": {"code": "ACCOUNT_BLOCKED", "message": "The payee's account is blocked."},
        },
    }
    assert failure["data"]["failure"] == failed["failure"]
    assert hook.checked == 2


def test_seed_004_movement_events_to_registered_endpoints(hooks) -> None:
    server, hook = hooks
    m = new_merchant(server, fund=10_00, fee=FeePlan(fixed=1))
    endpoint = register(m, f"{hook.url}/account", hook=hook)
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["events"] == [
        "CASHOUT_COMPLETED",
        "CASHOUT_FAILED",
        "CASHIN_COMPLETED",
        "CASHOUT_RETURNED",
        "REFUND_COMPLETED",
        "REFUND_FAILED",
        "INFRACTION_REPORTED",
        "INFRACTION_ACCEPTED",
        "INFRACTION_REJECTED",
    ]
    ok = m.cash_out(
        amount="0.30", reference="PIX-OUT-5483571657-OWUJDUDVDO", destination=MARIA_KEY
    ).json()
    done = wait_terminal(m, ok["internalCode"])
    before_failure = m.balance()
    bad = m.cash_out(amount="0.30", reference="PIX-OUT-2", destination=BLOCKED_KEY).json()
    wait_terminal(m, bad["internalCode"])
    assert m.balance() == before_failure  # on ERROR the value was not debited

    got = {r.json()["externalId"]: r for r in hook.wait_for(2)}
    confirmed = got["PIX-OUT-5483571657-OWUJDUDVDO"]
    payload = verify(endpoint["secret"], confirmed)
    assert payload == {
        "event": "CashOut",
        "status": "CONFIRMED",
        "transactionType": "PIX",
        "movementType": "DEBIT",
        "transactionId": ok["transactionId"],
        "externalId": "PIX-OUT-5483571657-OWUJDUDVDO",
        "endToEndId": done["endToEndId"],
        "pixKey": "maria.silva@sandbox.connectpsp.dev",
        "feeAmount": 0.01,
        "originalAmount": 0.3,
        "finalAmount": 0.31,
        "processingDate": payload["processingDate"],
        "errorCode": None,
        "errorMessage": None,
        "counterpart": {
            "name": "Maria Silva",
            "document": "***.456.789-**",
            "bank": {
                "bankISPB": "18236120",
                "bankName": "NU PAGAMENTOS - IP",
                "bankCode": "260",
                "accountBranch": "0001",
                "accountNumber": "947710840",
            },
        },
        "metadata": {},
    }
    assert b'"feeAmount":0.01,"originalAmount":0.30,"finalAmount":0.31,' in confirmed.body
    assert payload["processingDate"].endswith("Z")
    assert len(payload["processingDate"]) == len("2025-12-11T20:06:12.117Z")

    error = verify(endpoint["secret"], got["PIX-OUT-2"])
    assert error == {
        "event": "CashOut",
        "status": "ERROR",
        "transactionType": "PIX",
        "movementType": "DEBIT",
        "transactionId": bad["transactionId"],
        "externalId": "PIX-OUT-2",
        "endToEndId": None,
        "pixKey": "ac06@sandbox.connectpsp.dev",
        "feeAmount": 0.01,
        "originalAmount": 0.3,
        "finalAmount": 0.31,
        "processingDate": error["processingDate"],
        "errorCode": "ACCOUNT_BLOCKED",
        "errorMessage": "The payee's account is blocked.",
        "counterpart": {  # the account DICT resolved the key to: the one that refused
            "name": "Maria Silva",
            "document": "***.456.789-**",
            "bank": {
                "bankISPB": "18236120",
                "bankName": "NU PAGAMENTOS - IP",
                "bankCode": "260",
                "accountBranch": "0001",
                "accountNumber": "8001",
            },
        },
        "metadata": {},
    }
    assert error["processingDate"].endswith("Z")
    assert hook.checked == 2

    # Both seed handlers, under node, fed the delivered bytes exactly as they arrived.
    if shutil.which("node") is None:
        pytest.fail("node is needed to run the seed 004 handlers")
    supplier, _ = run_seed_handler("use_case_1.js", confirmed.body)
    assert supplier == [
        {
            "service": "paymentService",
            "method": "markAsCompleted",
            "arg": {
                "paymentId": "5483571657-OWUJDUDVDO",
                "transactionId": ok["transactionId"],
                "endToEndId": done["endToEndId"],
                "completedAt": payload["processingDate"],
            },
        },
        {
            "service": "notificationService",
            "method": "sendPaymentCompleted",
            "arg": "5483571657-OWUJDUDVDO",
        },
    ]
    withdrawal, withdrawal_out = run_seed_handler("use_case_2.js", confirmed.body)
    assert withdrawal == [
        {
            "service": "withdrawalService",
            "method": "confirm",
            "arg": {
                "withdrawalId": "PIX-OUT-5483571657-OWUJDUDVDO",
                "transactionId": ok["transactionId"],
                "amount": 0.3,
                "fee": 0.01,
            },
        },
    ]
    assert '"amount":0.3,"fee":0.01}' in withdrawal_out  # JavaScript's numbers, as JS saw them
    failed_supplier, _ = run_seed_handler("use_case_1.js", got["PIX-OUT-2"].body)
    assert failed_supplier[0]["arg"] == {
        "paymentId": "2",
        "transactionId": bad["transactionId"],
        "endToEndId": None,
        "completedAt": error["processingDate"],
    }
    failed_withdrawal, _ = run_seed_handler("use_case_2.js", got["PIX-OUT-2"].body)
    assert failed_withdrawal[0]["arg"] == {
        "withdrawalId": "PIX-OUT-2",
        "transactionId": bad["transactionId"],
        "amount": 0.3,
        "fee": 0.01,
    }


def run_seed_handler(script: str, body: bytes) -> tuple[list[dict[str, Any]], str]:
    """The calls a seed 004 handler makes on ``body``, and node's output as printed."""
    here = Path(__file__).parent / "seed004"
    out = subprocess.run(
        ["node", str(here / "run.js"), script],
        input=body,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.decode()
    return list(json.loads(out)), out


def test_a_key_that_does_not_resolve_has_no_bank_to_name(hooks) -> None:
    """PIX_KEY_NOT_FOUND: DICT named no account, so the movement's counterpart is the
    payee as the request gave it, and every bank field is null (as in seed 004's own
    example); the field names stay those of the seeds."""
    server, hook = hooks
    m = new_merchant(server, fund=10_00, fee=FeePlan(fixed=1))
    hook.expect(m.creds.webhook_secret, "/own")
    endpoint = register(m, f"{hook.url}/account", hook=hook)
    before = m.balance()
    nowhere = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "nobody@sandbox.connectpsp.dev"}
    created = m.cash_out(
        amount="0.30", reference="PIX-OUT-404", destination=nowhere, webhookUrl=f"{hook.url}/own"
    ).json()
    failed = wait_terminal(m, created["internalCode"])
    assert failed["failure"]["code"] == "PIX_KEY_NOT_FOUND"
    assert m.balance() == before  # not debited
    hook.wait_for(2)
    (own,) = hook.by_path("/own")
    (movement,) = hook.by_path("/account")
    message = "The provided PIX key did not resolve to a valid account."

    event = verify(m.creds.webhook_secret, own)
    assert event == {
        "eventType": "CASHOUT_FAILED",
        "eventAt": event["eventAt"],
        "data": {
            "internalCode": created["internalCode"],
            "externalReference": "PIX-OUT-404",
            "endToEndId": None,
            "status": "FAILED",
            "amount": 0.3,
            "payee": {"name": "Maria Silva", "document": "***.456.789-**", "destination": nowhere},
            "requestedAt": created["requestedAt"],
            "paidAt": None,
            "failure": {"code": "PIX_KEY_NOT_FOUND", "message": message},
        },
    }
    payload = verify(endpoint["secret"], movement)
    assert payload == {
        "event": "CashOut",
        "status": "ERROR",
        "transactionType": "PIX",
        "movementType": "DEBIT",
        "transactionId": created["transactionId"],
        "externalId": "PIX-OUT-404",
        "endToEndId": None,
        "pixKey": "nobody@sandbox.connectpsp.dev",
        "feeAmount": 0.01,
        "originalAmount": 0.3,
        "finalAmount": 0.31,
        "processingDate": payload["processingDate"],
        "errorCode": "PIX_KEY_NOT_FOUND",
        "errorMessage": message,
        "counterpart": {
            "name": "Maria Silva",
            "document": "***.456.789-**",
            "bank": {
                "bankISPB": None,
                "bankName": None,
                "bankCode": None,
                "accountBranch": None,
                "accountNumber": None,
            },
        },
        "metadata": {},
    }
    assert b'"bank":{"bankISPB":null,"bankName":null,"bankCode":null,' in movement.body
    assert hook.checked == 2


def test_the_reference_library_rejects_tampering_and_old_timestamps(hooks) -> None:
    server, hook = hooks
    m = new_merchant(server, fund=100_00)
    endpoint = register(m, hook.url, hook=hook)
    wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
    (received,) = hook.wait_for(1)
    verify(endpoint["secret"], received)
    tampered = received.body.replace(b'"CONFIRMED"', b'"ERROR"')
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(tampered, received.headers)
    # Re-signed for a timestamp an hour old, the signature is right: only staleness fails.
    webhook = Webhook(endpoint["secret"])
    message_id, sent_at = received.headers["webhook-id"], int(received.headers["webhook-timestamp"])

    def signed_at(stamp: int) -> dict[str, str]:
        when = datetime.fromtimestamp(stamp, tz=UTC)
        return {
            **received.headers,
            "webhook-timestamp": str(stamp),
            "webhook-signature": webhook.sign(message_id, when, received.body.decode()),
        }

    webhook.verify(received.body, signed_at(sent_at))  # re-signing itself is sound
    with pytest.raises(WebhookVerificationError, match="too old"):
        webhook.verify(received.body, signed_at(sent_at - 3600))
    with pytest.raises(WebhookVerificationError):
        Webhook(m.creds.webhook_secret).verify(received.body, received.headers)


def test_retries_until_the_receiver_recovers(hooks) -> None:
    server, hook = hooks
    hook.script = [(500, {}), (500, {}), (500, {})]
    m = new_merchant(server, fund=100_00)
    register(m, hook.url, hook=hook)
    wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
    hook.wait_for(1)  # the immediate attempt
    for wait, total in (
        (timedelta(seconds=6), 2),
        (timedelta(minutes=6), 3),
        (timedelta(minutes=34), 4),
    ):
        advance(server, seconds=wait.total_seconds())
        hook.wait_for(total)
    received = hook.wait_for(4)
    assert len({r.headers["webhook-id"] for r in received}) == 1  # stable across retries
    assert len({r.body for r in received}) == 1
    (delivery,) = deliveries(m, "succeeded")
    assert m.get("/webhooks/deliveries").json()["data"] == [delivery]
    assert delivery["webhookId"] == received[0].headers["webhook-id"]
    assert [a["statusCode"] for a in delivery["attempts"]] == [500, 500, 500, 200]
    assert all(a["latencyMs"] >= 0 and a["responseBody"] == "ok" for a in delivery["attempts"])
    succeeded = m.get("/webhooks/deliveries", status="succeeded").json()["data"]
    assert [d["id"] for d in succeeded] == [delivery["id"]]
    assert m.get("/webhooks/deliveries", status="failed").json()["data"] == []
    assert m.get("/webhooks/deliveries", status="bogus").status_code == 400


def test_no_event_is_lost_across_a_restart_mid_retry(db_settings: Settings) -> None:
    clock = FakeClock()
    with receiver() as hook:
        hook.script = [(503, {})]
        with running_server(db_settings, worker=True, clock=clock) as first:
            m = new_merchant(first, fund=100_00)
            endpoint = register(m, hook.url, hook=hook)
            wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
            hook.wait_for(1)
        # The server is gone with the retry pending; a new one on the same database...
        with running_server(db_settings, worker=True, clock=clock) as second:
            clock.advance(seconds=10)
            second.container.worker.wake()
            received = hook.wait_for(2)
        assert received[0].headers["webhook-id"] == received[1].headers["webhook-id"]
        verify(endpoint["secret"], received[1])


@pytest.mark.parametrize(
    ("status", "form"), [(429, "seconds"), (503, "seconds"), (503, "http-date")]
)
def test_retry_after_is_honoured(hooks, status: int, form: str) -> None:
    server, hook = hooks
    an_hour = server.clock.now() + timedelta(hours=1)
    value = "3600" if form == "seconds" else format_datetime(an_hour, usegmt=True)
    hook.script = [(status, {"Retry-After": value})]
    m = new_merchant(server, fund=100_00)
    register(m, f"{hook.url}/slow", hook=hook)
    wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
    hook.wait_for(1)
    (pending,) = deliveries(m, "pending", attempts=1)
    assert pending["attempts"][0]["statusCode"] == status
    advance(server, minutes=30)  # the schedule alone would have retried after 5 s
    time.sleep(0.3)
    assert len(hook.requests) == 1
    advance(server, minutes=31)
    hook.wait_for(2)


def test_410_disables_the_endpoint_and_nothing_more_is_sent_to_it(hooks) -> None:
    server, hook = hooks
    gone = new_merchant(server, fund=100_00)
    endpoint = register(gone, f"{hook.url}/gone", hook=hook)
    hook.script = [(410, {})]
    wait_terminal(gone, gone.cash_out(destination=MARIA_KEY).json()["internalCode"])
    (failed,) = deliveries(gone, "failed", attempts=1)
    assert failed["attempts"][0]["statusCode"] == 410
    listed = gone.get("/webhooks").json()["data"]
    assert [(e["id"], e["status"]) for e in listed] == [(endpoint["id"], "disabled")]
    wait_terminal(gone, gone.cash_out(destination=MARIA_KEY).json()["internalCode"])

    # A manual retry is refused, with a code of its own...
    retried = gone.http.post(
        f"/webhooks/deliveries/{failed['id']}/retry", headers=gone.headers(sign=False)
    )
    assert retried.status_code == 409
    assert retried.json()["error"]["code"] == "WEBHOOK_ENDPOINT_DISABLED"
    # ...and a delivery made due behind the API's back (a race) is never claimed.
    with server.container.db.engine.begin() as conn:
        d = t.webhook_deliveries.c
        conn.execute(
            update(t.webhook_deliveries)
            .where(d.id == failed["id"])
            .values(status="pending", next_attempt_at=server.clock.now())
        )
    advance(server, seconds=10)
    time.sleep(0.5)
    assert len(hook.by_path("/gone")) == 1
    assert len(deliveries(gone, "pending")[0]["attempts"]) == 1


def test_nothing_is_sent_to_a_deleted_endpoint(hooks) -> None:
    server, hook = hooks
    hook.script = [(500, {})]
    m = new_merchant(server, fund=100_00)
    endpoint = register(m, f"{hook.url}/deleted", hook=hook)
    wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
    (pending,) = deliveries(m, "pending", attempts=1)
    headers = m.headers(sign=False)
    assert m.http.delete(f"/webhooks/{endpoint['id']}", headers=headers).status_code == 204
    (failed,) = deliveries(m, "failed")
    assert failed["id"] == pending["id"]
    retried = m.http.post(f"/webhooks/deliveries/{failed['id']}/retry", headers=headers)
    assert (retried.status_code, retried.json()["error"]["code"]) == (
        409,
        "WEBHOOK_ENDPOINT_DISABLED",
    )
    advance(server, minutes=10)
    time.sleep(0.5)
    assert len(hook.by_path("/deleted")) == 1


def test_410_from_a_cash_outs_webhook_url_ends_that_delivery(hooks) -> None:
    server, hook = hooks
    hook.script = [(410, {})]
    m = new_merchant(server, fund=100_00)
    hook.expect(m.creds.webhook_secret, "/own")
    first = m.cash_out(webhookUrl=f"{hook.url}/own").json()
    wait_terminal(m, first["internalCode"])
    (failed,) = deliveries(m, "failed", attempts=1)
    assert [a["statusCode"] for a in failed["attempts"]] == [410]
    assert failed["nextAttemptAt"] is None
    advance(server, minutes=30)  # the schedule would have retried after 5 s
    time.sleep(0.5)
    assert len(hook.by_path("/own")) == 1
    # The URL is the cash-out's: the next cash-out that names it is delivered.
    wait_terminal(m, m.cash_out(webhookUrl=f"{hook.url}/own").json()["internalCode"])
    assert deliveries(m, "succeeded")[0]["url"] == f"{hook.url}/own"
    assert len(hook.by_path("/own")) == 2


def test_manual_retry_of_a_failed_delivery(hooks) -> None:
    server, hook = hooks
    hook.script = [(500, {})] * 8
    m = new_merchant(server, fund=100_00)
    register(m, hook.url, hook=hook)
    wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
    for n in range(2, 9):  # every scheduled attempt fails
        advance(server, hours=11)
        hook.wait_for(n)
    m.renew_token()
    (failed,) = deliveries(m, "failed")
    assert len(failed["attempts"]) == 8
    retried = m.http.post(
        f"/webhooks/deliveries/{failed['id']}/retry", headers=m.headers(sign=False)
    )
    assert retried.status_code == 202
    hook.wait_for(9)
    assert deliveries(m, "succeeded")[0]["id"] == failed["id"]
    other = new_merchant(server)
    assert (
        other.http.post(
            f"/webhooks/deliveries/{failed['id']}/retry", headers=other.headers(sign=False)
        ).status_code
        == 404
    )


def test_rotation_signs_with_both_secrets_for_a_day(hooks) -> None:
    server, hook = hooks
    m = new_merchant(server, fund=100_00)
    endpoint = register(m, hook.url, hook=hook)
    rotated = m.http.post(
        f"/webhooks/{endpoint['id']}/rotate-secret", headers=m.headers(sign=False)
    ).json()
    assert rotated["secret"] != endpoint["secret"]
    hook.expect(rotated["secret"])
    wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
    (received,) = hook.wait_for(1)
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    verify(endpoint["secret"], received)  # the old secret still verifies...
    verify(rotated["secret"], received)  # ...and so does the new one
    server.clock.advance(hours=25)  # the overlap is over: the new secret alone signs
    m.renew_token()
    wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
    later = hook.wait_for(2)[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    signature = later.headers["webhook-signature"]
    expected = Webhook(rotated["secret"]).sign(
        later.headers["webhook-id"],
        datetime.fromtimestamp(int(later.headers["webhook-timestamp"]), tz=UTC),
        later.body.decode(),
    )
    assert signature == expected


def test_a_second_rotation_within_a_day_ends_the_first_overlap(hooks) -> None:
    """One previous secret is kept, not a list (documented in webhooks.md): rotating
    again inside the 24 h overlap drops the secret before the last one at once."""
    server, hook = hooks
    m = new_merchant(server, fund=100_00)
    original = register(m, hook.url)["secret"]
    path = f"/webhooks/{m.get('/webhooks').json()['data'][0]['id']}/rotate-secret"
    second = m.http.post(path, headers=m.headers(sign=False)).json()
    server.clock.advance(hours=1)
    m.renew_token()
    third = m.http.post(path, headers=m.headers(sign=False)).json()
    assert third["previousSecretExpiresAt"] != second["previousSecretExpiresAt"]
    hook.expect(second["secret"])
    hook.expect(third["secret"])
    wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
    (received,) = hook.wait_for(1)
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    # The fake clock is an hour ahead: compare signatures, as the library makes them.
    assert signed_by_any([third["secret"]], received)
    assert signed_by_any([second["secret"]], received)
    assert not signed_by_any([original], received)


def test_replay_resends_exactly_the_window(hooks) -> None:
    """[since, until): an event at exactly ``since`` is sent again, one at exactly
    ``until`` is not. An event's time is its processingDate, to the millisecond."""
    server, hook = hooks
    m = new_merchant(server, fund=1_000_00)
    endpoint = register(m, f"{hook.url}/live", hook=hook)
    for n in range(1, 5):
        wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
        # Delivered and recorded before the clock jumps: a jump past the lease of an
        # attempt in flight would have it sent again (at least once), and counted twice.
        deliveries(m, "succeeded", count=n, attempts=1)
        server.clock.advance(minutes=10)
    live = sorted(hook.wait_for(4), key=lambda r: r.json()["processingDate"])
    ids = [r.headers["webhook-id"] for r in live]
    stamps = [r.json()["processingDate"] for r in live]

    def replay(since: str, until: str) -> Any:
        return m.http.post(
            f"/webhooks/{endpoint['id']}/replay",
            json={"since": since, "until": until},
            headers=m.headers(sign=False),
        )

    replayed = replay(stamps[1], stamps[3])
    assert replayed.status_code == 202
    assert replayed.json() == {"replayed": 2}
    again = hook.wait_for(6)[4:]
    assert sorted(r.headers["webhook-id"] for r in again) == sorted(ids[1:3])
    one_ms_later = datetime.fromisoformat(stamps[3]) + timedelta(milliseconds=1)
    assert replay(stamps[3], one_ms_later.isoformat()).json() == {"replayed": 1}
    (last,) = hook.wait_for(7)[6:]
    assert last.headers["webhook-id"] == ids[3]
    assert replay(stamps[3], stamps[3]).status_code == 400  # an empty window
    assert replay(stamps[3], stamps[1]).status_code == 400
    assert replay("2026-01-01T00:00:00", stamps[3]).status_code == 400  # no zone


def test_endpoints_are_private_to_their_client(hooks) -> None:
    server, hook = hooks
    a, b = new_merchant(server), new_merchant(server)
    endpoint = register(a, hook.url, events=["CASHOUT_FAILED"], hook=hook)
    assert endpoint["events"] == ["CASHOUT_FAILED"]
    assert b.get("/webhooks").json() == {"data": []}
    server.container.clients.fund(a.creds.client_id, 100_00)
    wait_terminal(a, a.cash_out(destination=BLOCKED_KEY).json()["internalCode"])
    assert deliveries(a, "succeeded")  # a has one...
    assert b.get("/webhooks/deliveries").json() == {"data": []}  # ...and b cannot see it
    for method, path in (
        ("DELETE", f"/webhooks/{endpoint['id']}"),
        ("POST", f"/webhooks/{endpoint['id']}/rotate-secret"),
        ("POST", f"/webhooks/{endpoint['id']}/replay"),
    ):
        reply = b.http.request(
            method,
            path,
            headers=b.headers(sign=False),
            json={"since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"},
        )
        assert reply.status_code == 404, (method, path)
    assert (
        a.http.delete(f"/webhooks/{endpoint['id']}", headers=a.headers(sign=False)).status_code
        == 204
    )
    assert a.get("/webhooks").json() == {"data": []}
    bad = a.http.post(
        "/webhooks", json={"url": "ftp://x", "events": ["NOPE"]}, headers=a.headers(sign=False)
    )
    assert {d["field"] for d in bad.json()["error"]["details"]} == {"url", "events"}
    assert a.http.post("/webhooks", json={"url": hook.url}).status_code == 401


SSRF_URLS = [
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}/",
    "http://2130706433:{port}/",  # 127.0.0.1 as a decimal number
    "http://0x7f000001:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::1]:{port}/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://[fc00::1]/",
    "http://[fe80::1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[::ffff:100.64.0.1]/",
    "http://[::ffff:172.16.0.1]/",
    "http://[::ffff:192.168.1.1]/",
    "http://[::7f00:1]:{port}/",  # IPv4-compatible 127.0.0.1
    "http://[fec0::1]/",  # IPv6 site-local
    "http://240.0.0.1/",  # reserved
    "http://0.0.0.0:{port}/",
]


def test_production_refuses_internal_addresses(db_settings: Settings) -> None:
    production = replace(db_settings, env="production")
    with receiver() as canary, running_server(production, worker=True) as server:
        m = new_merchant(server, fund=100_00)
        for template in SSRF_URLS:
            url = template.format(port=canary.port)
            reply = m.http.post("/webhooks", json={"url": url}, headers=m.headers(sign=False))
            assert reply.status_code == 400, url
            (detail,) = reply.json()["error"]["details"]
            assert detail["field"] == "url", url
        # A cash-out's own webhookUrl with such an address is refused when it is given.
        for template in SSRF_URLS:
            url = template.format(port=canary.port)
            refused = m.cash_out(webhookUrl=url)
            assert refused.status_code == 400, url
            (detail,) = refused.json()["error"]["details"]
            assert detail["field"] == "webhookUrl", url
        assert m.balance()["reserved"] == 0
        assert (
            m.http.post("/sandbox/dict/keys", json={}, headers=m.headers(sign=False)).status_code
            == 404
        )
    assert canary.connections == 0
    assert canary.requests == []


def test_attempts_to_one_endpoint_are_capped(hooks) -> None:
    server, hook = hooks
    hook.delay = 1.0  # slower than 20 cash-outs take to settle: their deliveries pile up
    m = new_merchant(server, fund=1_000_00)
    register(m, f"{hook.url}/busy", hook=hook)
    for i in range(20):
        assert m.cash_out(destination=MARIA_KEY, reference=f"busy-{i}").status_code == 202
    hook.wait_for(20, timeout=30)
    # 20 deliveries and 32 sending threads: without the cap, more than 8 would overlap.
    assert hook.most_in_flight == 8


def test_a_hanging_receiver_does_not_delay_settlement(db_settings: Settings) -> None:
    settings = replace(db_settings, webhook_timeout_seconds=4)
    with receiver() as hang, receiver() as fast, running_server(settings, worker=True) as server:
        hang.delay = 30  # never answers within the timeout
        m = new_merchant(server, fund=1_000_00)
        hang.expect(m.creds.webhook_secret)
        fast.expect(m.creds.webhook_secret)
        for _ in range(10):  # more than the 8 attempts one URL may have at once
            m.cash_out(destination=MARIA_KEY, webhookUrl=f"{hang.url}/hang")
        deadline = time.monotonic() + 10
        while hang.in_flight < 8:
            assert time.monotonic() < deadline, f"{hang.in_flight} attempts under way"
            time.sleep(0.02)
        started = time.monotonic()
        other = m.cash_out(destination=MARIA_KEY, webhookUrl=f"{fast.url}/fast").json()
        assert wait_terminal(m, other["internalCode"], timeout=2)["status"] == "COMPLETED"
        fast.wait_for(1, timeout=2)  # and its webhook does not queue behind the hung ones
        assert time.monotonic() - started < 3  # well inside the 4 s receivers are given
        assert hang.in_flight == 8  # still hanging


def test_a_claimed_delivery_is_not_claimed_again_while_it_waits(db_settings: Settings) -> None:
    """Two dispatchers (as in two worker processes) on one database, a lease shorter
    than a backlog takes to drain: each claims only what it can start, so no delivery
    waits for an endpoint slot while its lease runs out and the other sends it too."""
    with receiver() as hook, running_server(db_settings) as server:
        hook.delay = 0.5
        m = new_merchant(server, fund=1_000_00)
        register(m, f"{hook.url}/backlog", hook=hook)
        codes = [m.cash_out(destination=MARIA_KEY).json()["internalCode"] for _ in range(12)]
        while server.container.settlement.run_due():  # queues the 12 deliveries
            pass
        assert all(wait_terminal(m, code)["status"] == "COMPLETED" for code in codes)
        dispatchers = [dispatcher(server, lease=timedelta(seconds=2)) for _ in range(2)]
        stop = threading.Event()

        def loop(service: WebhookDispatcher) -> None:
            while not stop.is_set():
                service.dispatch_due()
                time.sleep(0.02)

        threads = [threading.Thread(target=loop, args=(d,), daemon=True) for d in dispatchers]
        for thread in threads:
            thread.start()
        try:
            hook.wait_for(12, timeout=20)
            time.sleep(1.5)  # any second send of a lapsed lease would arrive by now
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            for service in dispatchers:
                service.close()
        ids = [r.headers["webhook-id"] for r in hook.requests]
        assert len(ids) == len(set(ids)) == 12
        assert hook.most_in_flight <= 4  # 2 per endpoint in each dispatcher
        assert len(deliveries(m, "succeeded", count=12)) == 12


def queued_deliveries(server: RunningServer, hook: Receiver, count: int) -> tuple[Api, str]:
    """A merchant with an endpoint on ``hook`` and ``count`` deliveries due to it, which
    the server's own dispatcher (not started) leaves alone; the endpoint's id."""
    m = new_merchant(server, fund=1_000_00)
    endpoint = register(m, f"{hook.url}/queued", hook=hook)
    codes = [m.cash_out(destination=MARIA_KEY).json()["internalCode"] for _ in range(count)]
    while server.container.settlement.run_due():
        pass
    assert all(wait_terminal(m, code)["status"] == "COMPLETED" for code in codes)
    return m, endpoint["id"]


def leased(server: RunningServer, endpoint_id: str) -> int:
    """The endpoint's deliveries whose lease has not run out (by the server's clock)."""
    d = t.webhook_deliveries.c
    with server.container.db.transaction(write=False) as tx:
        query = select(func.count()).where(
            d.endpoint_id == endpoint_id, d.locked_until > server.clock.now()
        )
        return int(tx.conn.execute(query).scalar_one())


@pytest.mark.parametrize(("lease_s", "claimed"), [(2, 2), (16, 4), (120, 10)])
def test_a_dispatcher_claims_only_the_rounds_its_lease_covers(
    db_settings: Settings, lease_s: int, claimed: int
) -> None:
    """2 attempts at once per endpoint, each allowed 5 s. A lease of 16 s covers two
    rounds of attempts with room for the whole of the last, so 4 are claimed, 2 of them
    to wait for a slot; a 2 s lease, only what can start at once; a 120 s lease would
    cover 23 rounds, but no more than 5 are claimed ahead: what a dispatcher that dies
    had claimed waits for its lease to end. Slots stay capped at 2 whatever was claimed."""
    with receiver() as hook, running_server(db_settings) as server:
        _, endpoint_id = queued_deliveries(server, hook, 12)
        service = dispatcher(server, lease=timedelta(seconds=lease_s))
        hook.delay = 0.3
        try:
            service.dispatch_due()
            assert leased(server, endpoint_id) == claimed
            hook.wait_for(2, timeout=5)
            assert hook.most_in_flight <= 2
        finally:
            service.close()


def test_each_claim_is_leased_for_as_long_as_its_place_in_the_queue_needs(
    db_settings: Settings,
) -> None:
    """With 2 slots and 5 s attempts, the 1st and 2nd claimed start at once and are
    leased for 10 s (their attempt and one more for slack), the 3rd and 4th for 15 s,
    and so on: a dispatcher that dies strands each only as long as its place needed,
    not for the whole 120 s."""
    with receiver() as hook, running_server(db_settings) as server:
        _, endpoint_id = queued_deliveries(server, hook, 12)
        service = dispatcher(server, lease=timedelta(seconds=120))
        hook.delay = 0.3
        try:
            service.dispatch_due()
            d = t.webhook_deliveries.c
            with server.container.db.transaction(write=False) as tx:
                leases = tx.conn.execute(
                    select(d.locked_until).where(
                        d.endpoint_id == endpoint_id, d.locked_until.is_not(None)
                    )
                ).scalars()
                seconds = sorted(round((u - server.clock.now()).total_seconds()) for u in leases)
        finally:
            service.close()
    assert seconds == [10, 10, 15, 15, 20, 20, 25, 25, 30, 30]


def test_closing_gives_back_the_leases_of_deliveries_not_sent(db_settings: Settings) -> None:
    """A graceful stop lets the attempts under way end and sends nothing more; the
    deliveries it had claimed but not started are free at once for another worker,
    not after their leases run out."""
    with receiver() as hook, running_server(db_settings) as server:
        m, endpoint_id = queued_deliveries(server, hook, 8)
        service = dispatcher(server, lease=timedelta(seconds=60))
        hook.delay = 0.5
        service.dispatch_due()
        assert leased(server, endpoint_id) == 8
        deadline = time.monotonic() + 5
        while hook.in_flight < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        service.close()
        assert len(hook.requests) == 2
        assert leased(server, endpoint_id) == 0
        assert len(deliveries(m, "succeeded", count=2)) == 2
        assert len(m.get("/webhooks/deliveries", status="pending").json()["data"]) == 6
        own = server.container.dispatcher  # the server's own dispatcher claims the rest now
        deadline = time.monotonic() + 10
        while len(hook.requests) < 8:
            assert time.monotonic() < deadline, f"{len(hook.requests)} of 8 sent"
            own.dispatch_due()
            time.sleep(0.05)


def dispatcher(server: RunningServer, *, lease: timedelta) -> WebhookDispatcher:
    """Another process's webhook dispatcher on the server's database: 2 at once per
    endpoint, attempts of up to 5 s, leases of ``lease``."""
    settings = server.container.settings
    guard = AddressGuard(allow_loopback=True)
    return WebhookDispatcher(
        server.container.uow,
        clock=server.clock,
        cipher=AesGcmCipher(settings.master_key),
        sender=HttpSender(guard, timeout=5, clock=server.clock),
        log=get_logger("connectpsp.webhooks"),
        per_endpoint=2,
        lease=lease,
    )


def test_a_retried_registration_registers_once(hooks) -> None:
    server, hook = hooks
    m = new_merchant(server)
    headers = {**m.headers(sign=False), "X-Idempotency-Key": "create-1"}
    body = {"url": f"{hook.url}/once", "events": ["CASHOUT_COMPLETED"]}
    first = m.http.post("/webhooks", json=body, headers=headers)
    again = m.http.post("/webhooks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()  # the same id, and the same secret
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert [e["id"] for e in m.get("/webhooks").json()["data"]] == [first.json()["id"]]

    other = m.http.post("/webhooks", json={**body, "events": None}, headers=headers)
    assert (other.status_code, other.json()["error"]["code"]) == (
        422,
        "IDEMPOTENCY_KEY_MISMATCH",
    )
    # Without a key, or with a new one, each call registers an endpoint.
    register(m, f"{hook.url}/once")
    fresh = m.http.post(
        "/webhooks", json=body, headers={**m.headers(sign=False), "X-Idempotency-Key": "c2"}
    )
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]
    assert len(m.get("/webhooks").json()["data"]) == 3
    too_long = {**m.headers(sign=False), "X-Idempotency-Key": "k" * 256}
    assert m.http.post("/webhooks", json=body, headers=too_long).status_code == 400


def test_concurrent_calls_with_one_key_register_and_rotate_once(hooks) -> None:
    server, hook = hooks
    m = new_merchant(server)
    headers = {**m.headers(sign=False), "X-Idempotency-Key": "racing"}

    def create(_: int) -> Any:
        return m.http.post("/webhooks", json={"url": hook.url}, headers=headers)

    with ThreadPoolExecutor(4) as pool:
        replies = [*pool.map(create, range(4)), create(4)]
    assert len(m.get("/webhooks").json()["data"]) == 1
    assert_one_answer(replies, 201)

    path = f"/webhooks/{replies[-1].json()['id']}/rotate-secret"
    rotating = {**m.headers(sign=False), "X-Idempotency-Key": "racing-rotation"}

    def rotate(_: int) -> Any:
        return m.http.post(path, headers=rotating)

    with ThreadPoolExecutor(4) as pool:
        rotations = [*pool.map(rotate, range(4)), rotate(4)]
    assert_one_answer(rotations, 200)


def assert_one_answer(replies: list[Any], status: int) -> None:
    """Calls with one key, the first four at once and the last after them: every call
    got the one answer, or was told the key was in use (409) while the first was being
    decided; the last one, after them all, gets that answer replayed."""
    answered = [r for r in replies if r.status_code == status]
    busy = [r for r in replies if r.status_code != status]
    assert all(r.json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE" for r in busy), busy
    assert {r.status_code for r in busy} <= {409}
    assert replies[-1].status_code == status
    assert replies[-1].headers["idempotent-replayed"] == "true"
    assert len({r.content for r in answered}) == 1  # the same id and secret, byte for byte


def test_a_retried_rotation_rotates_once(hooks) -> None:
    server, hook = hooks
    m = new_merchant(server, fund=100_00)
    endpoint = register(m, hook.url, hook=hook)
    neighbour = register(m, f"{hook.url}/neighbour", events=["CASHOUT_FAILED"], hook=hook)
    headers = {**m.headers(sign=False), "X-Idempotency-Key": "rotate-1"}
    path = f"/webhooks/{endpoint['id']}/rotate-secret"
    first = m.http.post(path, headers=headers)
    again = m.http.post(path, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()  # the same new secret, the same overlap
    assert again.headers["idempotent-replayed"] == "true"
    hook.expect(first.json()["secret"])
    # Rotated once: the original secret still signs, beside the new one.
    wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
    (received,) = hook.wait_for(1)
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    verify(endpoint["secret"], received)
    verify(first.json()["secret"], received)

    elsewhere = m.http.post(f"/webhooks/{neighbour['id']}/rotate-secret", headers=headers)
    assert (elsewhere.status_code, elsewhere.json()["error"]["code"]) == (
        422,
        "IDEMPOTENCY_KEY_MISMATCH",
    )
    fresh = m.http.post(
        path, headers={**m.headers(sign=False), "X-Idempotency-Key": "rotate-2"}
    ).json()
    assert fresh["secret"] != first.json()["secret"]

    with server.container.db.engine.connect() as conn:  # no secret is stored in clear
        rows = conn.execute(select(t.webhook_endpoints)).all()
    stored = repr(rows)
    for secret in (endpoint["secret"], first.json()["secret"], fresh["secret"]):
        assert secret.removeprefix("whsec_") not in stored


@contextmanager
def answering(status: int, body: bytes) -> Iterator[str]:
    """A receiver that answers every POST with ``status`` and ``body``; its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_recorded_answer_is_its_first_kib(hooks) -> None:
    server, _ = hooks
    answer = b"0123456789abcdef" * 256  # 4 KiB
    with answering(500, answer) as url:
        m = new_merchant(server, fund=100_00)
        register(m, url)
        wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
        (pending,) = deliveries(m, "pending", attempts=1)
    (attempt,) = pending["attempts"]
    assert attempt["statusCode"] == 500
    assert attempt["responseBody"] == answer[:1024].decode()


# A registered host's later DNS answers, each all private, or public and private mixed.
INWARD_ANSWERS = [["127.0.0.1"], ["::ffff:127.0.0.1"], ["93.184.216.34", "127.0.0.1"]]


def test_each_attempt_checks_where_the_host_resolves_now(
    db_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding, through the real server: the host resolves to a public address
    when registered and inwards when sent to. Nothing reaches the canary behind it."""
    real = socket.getaddrinfo
    answers = [["93.184.216.34"], *INWARD_ANSWERS]

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        chosen = answers.pop(0) if len(answers) > 1 else answers[0]
        return [
            (family[6 if ":" in a else 4], socket.SOCK_STREAM, 6, "", (a, port)) for a in chosen
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    production = replace(db_settings, env="production")
    with receiver() as canary, running_server(production, worker=True) as server:
        m = new_merchant(server, fund=100_00)
        register(m, f"http://hooks.example.test:{canary.port}/in")
        for _ in INWARD_ANSWERS:
            wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
        found = deliveries(m, "pending", count=len(INWARD_ANSWERS), attempts=1)
        errors = [a["error"] for d in found for a in d["attempts"]]
        assert len(errors) == len(INWARD_ANSWERS)
        assert all(e.startswith("blocked") for e in errors)
    assert canary.connections == 0


def test_a_cash_out_url_is_checked_when_given_and_again_when_sent(
    db_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Literal addresses, in every spelling, are refused at creation without a DNS
    lookup; a host name is accepted then, and refused at dispatch if it resolves inwards."""
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "inward.example.test":
            return real(host, port, *args, **kwargs)
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            raise socket.gaierror(socket.EAI_NONAME, "not a numeric host")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    production = replace(db_settings, env="production")
    with receiver() as canary, running_server(production, worker=True) as server:
        m = new_merchant(server, fund=100_00)
        for template in (
            "http://[::ffff:127.0.0.1]:{port}/",
            "http://2130706433:{port}/",
            "http://0x7f000001:{port}/",
            "http://017700000001:{port}/",
            "http://127.1:{port}/",
            "http://localhost:{port}/",
            "http://hooks.localhost:{port}/",
        ):
            url = template.format(port=canary.port)
            assert m.cash_out(webhookUrl=url).status_code == 400, url
        url = f"http://inward.example.test:{canary.port}/hook"
        assert m.cash_out(webhookUrl=url).status_code == 202
        [found] = deliveries(m, "pending", count=1, attempts=1)
        assert found["url"] == url
        assert all(a["error"].startswith("blocked") for a in found["attempts"])
    assert canary.connections == 0
    assert canary.requests == []
