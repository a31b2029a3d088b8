"""MED in the SDK: ``psp.infractions.list/get`` send what the API takes and read what it
answers, and ``webhooks.verify`` reads the server's own MED payloads, in both shapes, as
typed events; a MED event missing a field is refused."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectpsp import Infraction, WebhookVerificationError, webhooks
from connectpsp.api.jsonio import encode
from connectpsp.domain import infraction_payloads as payloads
from connectpsp.domain import webhooks as server
from connectpsp.domain.infractions import Infraction as ServerInfraction
from tests.unit.test_sdk import KINDS, Script, call, run
from tests.unit.test_sdk_webhooks import NOW

E2E = "E60701190202612051200Ab3dE5fG7hJ9"
REPORTED = ServerInfraction.report(
    "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    client_id="client-1",
    end_to_end_id=E2E,
    amount=8_00,
    available=5_00,
    now=NOW - timedelta(hours=1),
    details="golpe",
)


def deliver(payload: dict[str, Any]) -> webhooks.Event:
    body = encode(payload)
    secret = SECRET
    timestamp = int(NOW.timestamp())
    headers = {
        "webhook-id": "msg_med",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": server.sign([secret], "msg_med", timestamp, body),
    }
    return webhooks.verify(body, headers, secret, now=NOW)


SECRET = server.new_webhook_secret()


def test_each_step_is_read_as_the_api_shows_the_report() -> None:
    accepted = REPORTED.accept(NOW, "ana", "0b6b1c9e-5c1f-4a43-9d55-2f0c6c1e7a10")
    for state in (REPORTED, accepted, REPORTED.reject(NOW, "ana", "legit")):
        own = deliver(payloads.infraction_event(state, NOW))
        assert isinstance(own, webhooks.InfractionChanged)
        assert own.infraction == Infraction.from_json(
            json.loads(encode(payloads.infraction_json(state)))
        )
        assert own.event_type == f"INFRACTION_{'REPORTED' if state is REPORTED else state.status}"
    assert isinstance(own, webhooks.InfractionChanged)
    assert own.infraction.rejection_reason == "legit"
    moved = deliver(payloads.infraction_movement(REPORTED, NOW))
    assert isinstance(moved, webhooks.InfractionMovement)
    assert (moved.event, moved.movement_type) == ("InfractionReported", "DEBIT")
    assert (moved.original_amount, moved.final_amount) == (Decimal("8.00"), Decimal("5.00"))
    back = deliver(payloads.infraction_movement(accepted, NOW))
    assert isinstance(back, webhooks.InfractionMovement) and back.refund_id == accepted.refund_id


def test_a_med_event_without_its_fields_is_refused() -> None:
    payload = payloads.infraction_event(REPORTED, NOW)
    del payload["data"]["blockedAmount"]
    with pytest.raises(WebhookVerificationError):
        deliver(payload)


@pytest.mark.parametrize("kind", KINDS)
def test_list_and_get_send_the_filters_and_read_the_reports(kind: str) -> None:
    shown = json.loads(encode(payloads.infraction_json(REPORTED)))
    script = Script(httpx.Response(200, json={"items": [shown]}), httpx.Response(200, json=shown))

    async def steps(psp: Any) -> tuple[list[Infraction], Infraction]:
        listed = await call(psp.infractions.list(status="OPEN", limit=10))
        return listed, await call(psp.infractions.get(REPORTED.id))

    listed, got = run(kind, script, steps)
    sent = [(r.url.path, dict(r.url.params)) for r in script.requests]
    assert sent == [
        ("/infractions", {"status": "OPEN", "limit": "10"}),
        (f"/infractions/{REPORTED.id}", {}),
    ]
    assert listed == [got]
    assert (got.blocked_amount, got.status, got.deadline - got.reported_at) == (
        Decimal("5.00"),
        "OPEN",
        timedelta(days=7),
    )
