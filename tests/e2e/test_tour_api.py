"""Issue 18 over HTTP: a sandbox refuses a webhook URL left with its placeholder host,
and a 409 for a used reference names the cash-out that holds it."""

from __future__ import annotations

import uuid

from tests.support import RunningServer, cash_out_body, new_merchant

PLACEHOLDER = "https://YOUR_DOMAIN/webhooks/connectpsp"


def test_a_placeholder_webhook_url_is_refused_naming_the_field(server: RunningServer) -> None:
    merchant = new_merchant(server, fund=100_00)
    key = str(uuid.uuid4())
    body = cash_out_body(webhookUrl=PLACEHOLDER)
    reply = merchant.cash_out(body, key=key)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "PLACEHOLDER_URL"
    [detail] = error["details"]
    assert detail["field"] == "webhookUrl" and "'YOUR_DOMAIN' is a placeholder" in detail["message"]
    # Nothing was stored against the key: the request, filled in, goes through with it.
    body["webhookUrl"] = "http://127.0.0.1:9/webhooks"
    assert merchant.cash_out(body, key=key).status_code == 202

    charge = merchant.http.post(
        "/cash-in",
        json={
            "amount": "5.00",
            "externalReference": f"order-{uuid.uuid4().hex[:8]}",
            "webhookUrl": PLACEHOLDER,
        },
        headers=merchant.headers(),
    )
    assert charge.status_code == 400, charge.text
    assert charge.json()["error"]["code"] == "PLACEHOLDER_URL"
    assert charge.json()["error"]["details"][0]["field"] == "webhookUrl"

    endpoint = merchant.http.post(
        "/webhooks", json={"url": PLACEHOLDER}, headers=merchant.headers()
    )
    assert endpoint.status_code == 400, endpoint.text
    assert endpoint.json()["error"]["code"] == "PLACEHOLDER_URL"
    assert endpoint.json()["error"]["details"][0]["field"] == "url"
    assert merchant.get("/webhooks").json() == {"data": []}
    merchant.close()


def test_a_used_reference_names_the_cash_out_that_holds_it(server: RunningServer) -> None:
    merchant = new_merchant(server, fund=100_00)
    reference = f"ref-{uuid.uuid4().hex[:8]}"
    first = merchant.cash_out(reference=reference)
    assert first.status_code == 202, first.text
    key = str(uuid.uuid4())
    again = merchant.cash_out(reference=reference, key=key)
    assert again.status_code == 409, again.text
    error = again.json()["error"]
    assert error["code"] == "DUPLICATE_EXTERNAL_REFERENCE"
    assert error["details"] == {"internalCode": first.json()["internalCode"]}
    held = merchant.get(f"/cash-out/{error['details']['internalCode']}")
    assert held.json()["externalReference"] == reference
    replay = merchant.cash_out(reference=reference, key=key)
    assert replay.content == again.content and replay.headers["Idempotent-Replayed"] == "true"
    merchant.close()
