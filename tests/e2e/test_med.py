"""MED (issue "Refunds, returns and MED", part 3): a fraud report against a Pix a client
received blocks the funds it finds at once; the operator accepts it (the blocked funds go
back to the payer as a FR01 refund) or rejects it (they are released), or the default
applies at the deadline. Through the real server with its worker, the CLI's commands and
real webhook receivers, on SQLite and PostgreSQL, with the exact balances after each
step and the ledger's invariants."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any
from unittest import mock

import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from connectpsp import webhooks
from connectpsp.adapters.storage import schema as t
from connectpsp.domain.ledger import FeePlan
from connectpsp.settings import Settings
from tests.e2e.test_blocks import MARKED_PAYER
from tests.e2e.test_sdk import psp_for
from tests.invariants import cash_in_problems, ledger_problems
from tests.receiver import Received, Receiver, receiver
from tests.support import Api, RunningServer, cash_out_body, new_merchant, running_server, wait_for


@pytest.fixture
def hooks(db_settings: Settings) -> Iterator[tuple[RunningServer, Receiver]]:
    with receiver() as hook, running_server(db_settings, worker=True) as server:
        yield server, hook


def merchant(server: RunningServer, **fields: Any) -> Api:
    return new_merchant(server, cash_in_fee=FeePlan(fixed=20), document="11144477735", **fields)


def received(m: Api, amount: str, webhook_url: str | None = None) -> tuple[str, str]:
    """A dynamic charge paid by the sandbox payer: (internalCode, endToEndId)."""
    fields: dict[str, Any] = {"amount": amount, "externalReference": uuid.uuid4().hex[:12]}
    if webhook_url:
        fields["webhookUrl"] = webhook_url
    created = m.http.post("/cash-in", json=fields, headers=m.headers()).json()
    paid = m.http.post("/sandbox/pix/pay", json={"brCode": created["brCode"]}, headers=m.headers())
    assert paid.status_code == 201, paid.text
    return created["internalCode"], paid.json()["endToEndId"]


def report(m: Api, e2e: str, **fields: Any) -> httpx.Response:
    return m.http.post(
        "/sandbox/med/infractions", json={"endToEndId": e2e, **fields}, headers=m.headers()
    )


Z = Decimal(0)


def balance(m: Api) -> tuple[Decimal, Decimal, Decimal]:
    b = m.balance()
    return Decimal(str(b["available"])), Decimal(str(b["reserved"])), Decimal(str(b["blocked"]))


def delivered(
    hook: Receiver, secret: str, at: datetime | None = None, **fields: str
) -> dict[str, Any]:
    """The first webhook whose JSON has ``fields``, verified with standardwebhooks (as
    of ``at``, the server's clock, when a test moved it: the library checks that the
    signed timestamp is within 5 minutes of its now)."""

    def first() -> Received | None:
        return next(
            (
                r
                for r in list(hook.requests)
                if all(r.json().get(k) == v for k, v in fields.items())
            ),
            None,
        )

    wait_for(lambda: first() is not None)
    found = first()
    assert found is not None
    if at is None:
        return dict(Webhook(secret).verify(found.body, found.headers))
    moment = at

    class Then(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Then:
            return cls.fromtimestamp(moment.timestamp(), tz)

    with mock.patch("standardwebhooks.webhooks.datetime", Then):
        return dict(Webhook(secret).verify(found.body, found.headers))


def test_a_report_blocks_the_funds_and_accepting_it_refunds_the_payer(
    hooks: tuple[RunningServer, Receiver],
) -> None:
    server, hook = hooks
    m = merchant(server, fund=2_00)
    endpoint = m.http.post(
        "/webhooks", json={"url": f"{hook.url}/account"}, headers=m.headers(sign=False)
    ).json()
    assert "INFRACTION_REPORTED" in endpoint["events"]
    code, e2e = received(m, "10.00", webhook_url=f"{hook.url}/own")
    hook.wait_for(2)
    assert balance(m) == (Decimal("11.80"), Z, Z)

    reply = report(m, e2e, amount="8.00", details="golpe do falso parente")
    assert reply.status_code == 201, reply.text
    infraction = reply.json()
    assert infraction["status"] == "OPEN" and infraction["blockedAmount"] == 8.0
    assert infraction["deadline"].endswith("-03:00")
    assert balance(m) == (Decimal("3.80"), Z, Decimal("8.00"))
    again = report(m, e2e)
    assert again.status_code == 409 and again.json()["error"]["code"] == "ILLEGAL_TRANSITION"
    listed = m.get("/infractions", status="OPEN").json()["items"]
    assert [i["infractionId"] for i in listed] == [infraction["infractionId"]]
    spent = m.cash_out(cash_out_body(amount="5.00"))  # only 3.80 is available
    assert spent.status_code == 422 and spent.json()["error"]["code"] == "INSUFFICIENT_BALANCE"

    decided = server.container.infractions.accept(infraction["infractionId"], by="ana")
    assert decided.refund_id is not None
    refund_url = f"/cash-in/{code}/refunds/{decided.refund_id}"
    # Held for the refund while it is in flight. The worker may settle it before the
    # balance is read, so the refund's status is read after the balance: a refund not
    # yet completed then was not completed at the balance's read either.
    held = balance(m)
    if m.get(refund_url).json()["status"] != "COMPLETED":
        assert held == (Decimal("3.80"), Decimal("8.00"), Z)
    else:
        assert held in {(Decimal("3.80"), Decimal("8.00"), Z), (Decimal("3.80"), Z, Z)}
    wait_for(lambda: m.get(refund_url).json()["status"] == "COMPLETED")
    refunded = m.get(refund_url).json()
    assert (refunded["reason"], refunded["amount"]) == ("FRAUD", 8.0)
    assert balance(m) == (Decimal("3.80"), Z, Z)
    read = m.get(f"/infractions/{infraction['infractionId']}").json()
    assert (read["status"], read["decidedBy"], read["refundId"]) == (
        "ACCEPTED",
        "ana",
        decided.refund_id,
    )
    got = hook.wait_for(8)
    own = {r.json()["eventType"]: r for r in got if r.path == "/own"}
    assert {"INFRACTION_REPORTED", "INFRACTION_ACCEPTED", "REFUND_COMPLETED"} <= set(own)
    verified = Webhook(m.creds.webhook_secret).verify(
        own["INFRACTION_REPORTED"].body, own["INFRACTION_REPORTED"].headers
    )
    assert verified["data"]["blockedAmount"] == 8.0
    accepted = Webhook(m.creds.webhook_secret).verify(
        own["INFRACTION_ACCEPTED"].body, own["INFRACTION_ACCEPTED"].headers
    )
    assert (accepted["data"]["status"], accepted["data"]["refundId"]) == (
        "ACCEPTED",
        decided.refund_id,
    )
    account = [
        Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in got if r.path == "/account"
    ]
    kinds = [a["event"] for a in account]
    assert {"InfractionReported", "InfractionAccepted", "CashInRefund"} <= set(kinds)
    # Blocked (DEBIT), the block's end (CREDIT), the refund (DEBIT): 8.00 left in all.
    moves = {
        a["event"]: (a["movementType"], a["finalAmount"]) for a in account if a["event"] != "CashIn"
    }
    assert moves == {
        "InfractionReported": ("DEBIT", 8.0),
        "InfractionAccepted": ("CREDIT", 8.0),
        "CashInRefund": ("DEBIT", 8.0),
    }
    refund_movement = next(a for a in account if a["event"] == "CashInRefund")
    assert refund_movement["metadata"]["reason"] == "FR01"
    # The SDK reads the reports and both shapes of their webhooks as typed objects.
    typed = webhooks.verify(
        own["INFRACTION_ACCEPTED"].body, own["INFRACTION_ACCEPTED"].headers, m.creds.webhook_secret
    )
    assert isinstance(typed, webhooks.InfractionChanged)
    assert typed.infraction.refund_id == decided.refund_id
    blocked = next(
        r for r in got if r.path == "/account" and r.json()["event"] == "InfractionReported"
    )
    moved = webhooks.verify(blocked.body, blocked.headers, endpoint["secret"])
    assert isinstance(moved, webhooks.InfractionMovement) and moved.final_amount == Decimal("8.00")
    with psp_for(m) as psp:
        [seen] = psp.infractions.list()
        assert seen == psp.infractions.get(infraction["infractionId"])
        assert (seen.status, seen.blocked_amount) == ("ACCEPTED", Decimal("8.00"))
    assert ledger_problems(server.container.db) == []
    assert cash_in_problems(server.container.db) == []
    m.close()


def test_a_rejected_report_releases_the_funds(hooks: tuple[RunningServer, Receiver]) -> None:
    settling_server, hook = hooks
    m = merchant(settling_server)
    endpoint = m.http.post(
        "/webhooks", json={"url": f"{hook.url}/account"}, headers=m.headers(sign=False)
    ).json()
    _, e2e = received(m, "5.00", webhook_url=f"{hook.url}/own")
    infraction = report(m, e2e).json()  # all of it: only the 4.80 there is can be blocked
    assert (infraction["amount"], infraction["blockedAmount"]) == (5.0, 4.8)
    assert balance(m) == (Z, Z, Decimal("4.80"))
    block = settling_server.container.blocks.listed(client_id=m.creds.client_id)[0]
    with pytest.raises(Exception, match="infraction"):  # a MED block is not released alone
        settling_server.container.blocks.release(block.id, by="ana")
    decided = settling_server.container.infractions.reject(
        infraction["infractionId"], by="ana", reason="the payer confirmed the purchase"
    )
    assert decided.refund_id is None
    assert balance(m) == (Decimal("4.80"), Z, Z)
    read = m.get(f"/infractions/{infraction['infractionId']}").json()
    assert (read["status"], read["rejectionReason"]) == (
        "REJECTED",
        "the payer confirmed the purchase",
    )
    with pytest.raises(Exception, match="already"):
        settling_server.container.infractions.accept(infraction["infractionId"], by="ana")
    rejected = delivered(hook, m.creds.webhook_secret, eventType="INFRACTION_REJECTED")
    assert rejected["data"]["rejectionReason"] == "the payer confirmed the purchase"
    released = delivered(hook, endpoint["secret"], event="InfractionRejected")
    assert (released["movementType"], released["finalAmount"]) == ("CREDIT", 4.8)
    assert ledger_problems(settling_server.container.db) == []
    assert cash_in_problems(settling_server.container.db) == []
    m.close()


@pytest.mark.parametrize("default", ["accept", "reject"])
def test_the_default_applies_at_the_deadline(db_settings: Settings, default: str) -> None:
    settings = replace(db_settings, med_default=default)
    with receiver() as hook, running_server(settings, worker=True) as server:
        m = merchant(server)
        endpoint = m.http.post(
            "/webhooks", json={"url": f"{hook.url}/account"}, headers=m.headers(sign=False)
        ).json()
        _, e2e = received(m, "3.00", webhook_url=f"{hook.url}/own")
        infraction = report(m, e2e, amount="2.00").json()
        assert balance(m) == (Decimal("0.80"), Z, Decimal("2.00"))
        server.clock.advance(days=6, hours=23)
        m.renew_token()  # the first one has expired
        server.container.worker.wake()
        time.sleep(0.3)
        assert m.get(f"/infractions/{infraction['infractionId']}").json()["status"] == "OPEN"
        server.clock.advance(hours=1, seconds=1)
        m.renew_token()
        server.container.worker.wake()
        url = f"/infractions/{infraction['infractionId']}"
        wait_for(lambda: m.get(url).json()["status"] != "OPEN")
        read = m.get(url).json()
        assert read["decidedBy"] == "deadline"
        if default == "accept":
            assert read["status"] == "ACCEPTED"
            wait_for(lambda: balance(m)[1] == 0)  # the refund settled
            assert balance(m) == (Decimal("0.80"), Z, Z)
        else:
            assert read["status"] == "REJECTED"
            assert balance(m) == (Decimal("2.80"), Z, Z)
        now = server.clock.now()
        own = delivered(hook, m.creds.webhook_secret, now, eventType=f"INFRACTION_{read['status']}")
        assert own["data"]["decidedBy"] == "deadline"
        movement = "Infraction" + read["status"].title()
        moved = delivered(hook, endpoint["secret"], now, event=movement)
        assert (moved["movementType"], moved["finalAmount"]) == ("CREDIT", 2.0)
        assert ledger_problems(server.container.db) == []
        assert cash_in_problems(server.container.db) == []
        m.close()


def test_only_your_own_pix_is_reported_and_read(settling_server: RunningServer) -> None:
    m = merchant(settling_server)
    other = merchant(settling_server)
    _, e2e = received(m, "1.00")
    assert report(other, e2e).status_code == 404
    bad = report(m, e2e, amount="1.01")
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "amount"
    infraction = report(m, e2e).json()
    assert other.get(f"/infractions/{infraction['infractionId']}").status_code == 404
    assert other.get("/infractions").json()["items"] == []
    m.close()
    other.close()


def test_a_report_on_a_held_pix_blocks_what_the_hold_kept(
    settling_server: RunningServer,
) -> None:
    """A marked payer's Pix is held for 72 hours (``test_blocks.py``); reported, the hold
    ends and the report blocks the Pix in the same transaction, so that accepting it
    sends the money back to the payer and nothing is freed to the client at 72 hours."""
    server = settling_server  # its worker sends the refund and runs the hold's expiry
    m = merchant(server)
    code = m.http.post(
        "/cash-in", json={"type": "STATIC", "externalReference": "held"}, headers=m.headers()
    ).json()
    paid = m.http.post(
        "/sandbox/pix/pay",
        json={"brCode": code["brCode"], "amount": "10.00", "payer": MARKED_PAYER},
        headers=m.headers(),
    )
    assert paid.status_code == 201, paid.text
    assert balance(m) == (Z, Z, Decimal("9.80"))  # held as a precaution
    infraction = report(m, paid.json()["endToEndId"]).json()
    assert infraction["blockedAmount"] == 9.8  # what the hold kept: nothing else is there
    assert balance(m) == (Z, Z, Decimal("9.80"))
    blocks = server.container.blocks.listed(client_id=m.creds.client_id, active_only=False)
    assert sorted((b.reason.value, b.active, b.released_by) for b in blocks) == [
        ("FRAUD_MARKER", False, "med"),
        ("MED", True, None),
    ]
    decided = server.container.infractions.accept(infraction["infractionId"], by="ana")
    assert decided.refund_id is not None
    refund_url = f"/refunds/{decided.refund_id}"
    wait_for(lambda: m.get(refund_url).json()["status"] != "PROCESSING")
    assert (m.get(refund_url).json()["status"], balance(m)) == ("COMPLETED", (Z, Z, Z))
    server.clock.advance(hours=72, seconds=1)
    m.renew_token()
    server.container.worker.wake()
    hold = [b.id for b in blocks if b.reason.value == "FRAUD_MARKER"]
    o = t.outbox.c
    due = select(func.count()).where(o.ref.in_(hold), o.done_at.is_(None))

    def open_jobs() -> int:
        with server.container.db.engine.connect() as conn:
            return int(conn.execute(due).scalar_one())

    wait_for(lambda: open_jobs() == 0)
    assert balance(m) == (Z, Z, Z)  # the hold's job found it ended: nothing freed
    assert ledger_problems(server.container.db) == []
    assert cash_in_problems(server.container.db) == []
    m.close()
