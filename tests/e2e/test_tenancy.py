"""Tenancy: a client reaches only its own things. Client B, fully authenticated, names
client A's ids on every route that takes an id, and reads every list; each is refused or
empty, exactly as for an id that does not exist, and A's state is untouched."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.support import RunningServer, cash_out_body, new_merchant, wait_terminal

BLOCKED_KEY = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "ac06@sandbox.connectpsp.dev"}
# BCB's static example (Manual de Padrões para Iniciação do Pix, §2.6.3).
BR_CODE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
REPLAY_WINDOW = {"since": "2026-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z"}
# Routes open to everyone, or to the sandbox operator rather than to one client.
NOT_CLIENT_ROUTES = {
    ("POST", "/auth/token"),
    ("GET", "/healthz"),
    ("GET", "/livez"),
    ("GET", "/readyz"),
    ("GET", "/.well-known/jwks.json"),  # the keys that verify dynamic codes: public
    ("POST", "/sandbox/dict/keys"),
    # The sandbox DICT's fraud markers are the network's, as its keys are: no client's.
    ("POST", "/sandbox/dict/fraud-markers"),
    ("DELETE", "/sandbox/dict/fraud-markers/{markerId}"),
    ("GET", "/sandbox/dict/security"),
    # The sandbox payer plays a customer of another bank: anyone may pay any code or key.
    ("POST", "/sandbox/pix/pay"),
    # A dynamic code's location: whoever holds the code may read it, as BCB's API Pix asks.
    ("GET", "/qr/{locationId}"),
}


def _routes(server: RunningServer) -> set[tuple[str, str]]:
    spec = httpx.get(f"{server.base_url}/openapi.json").json()
    return {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }


def expected_with(body: dict[str, Any], unknown: str, theirs: str) -> dict[str, Any]:
    """An error body for an unknown id, as it reads with ``theirs`` in its place."""
    error = body["error"]
    return {"error": {**error, "message": error["message"].replace(unknown, theirs)}}


def test_another_clients_ids_reach_nothing_on_any_route(settling_server: RunningServer) -> None:
    server = settling_server
    a, b = new_merchant(server, fund=100_00), new_merchant(server, fund=100_00)
    endpoint = a.http.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=a.headers(sign=False)
    ).json()
    # A failed cash-out with a webhookUrl nobody listens on: a delivery that stays failed.
    created = a.cash_out(
        reference="a-private", destination=BLOCKED_KEY, webhookUrl="http://127.0.0.1:9/"
    ).json()
    wait_terminal(a, created["internalCode"])
    deadline = time.monotonic() + 10
    while not (mine := a.get("/webhooks/deliveries").json()["data"]):
        assert time.monotonic() < deadline, "no delivery was queued for A"
        time.sleep(0.05)
    delivery_id = mine[0]["id"]
    charge = a.http.post(
        "/cash-in", json={"amount": "1.00", "externalReference": "a-charge"}, headers=a.headers()
    ).json()
    a_key = a.http.post("/pix-keys", json={"type": "EVP"}, headers=a.headers()).json()["key"]
    # A paid charge of A's, part of it refunded, and a MED report against its Pix.
    paid = a.http.post(
        "/cash-in", json={"amount": "2.00", "externalReference": "a-paid"}, headers=a.headers()
    ).json()
    e2e = a.http.post(
        "/sandbox/pix/pay", json={"brCode": paid["brCode"]}, headers=a.headers()
    ).json()["endToEndId"]
    a_refund = a.http.post(
        f"/cash-in/{paid['internalCode']}/refunds", json={"amount": "0.50"}, headers=a.headers()
    ).json()["refundId"]
    a_report = a.http.post(
        "/sandbox/med/infractions", json={"endToEndId": e2e, "amount": "1.00"}, headers=a.headers()
    ).json()["infractionId"]
    deadline = time.monotonic() + 10
    refund_path = f"/cash-in/{paid['internalCode']}/refunds/{a_refund}"
    while a.get(refund_path).json()["status"] == "PROCESSING":
        assert time.monotonic() < deadline, "A's refund was not sent"
        time.sleep(0.05)
    a_before = a.balance()
    a_keys = a.get("/pix-keys").json()["items"]
    assert a_key in [k["key"] for k in a_keys]

    def as_b(method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = b.headers(sign=method == "POST")
        return b.http.request(method, path, headers=headers, **kwargs)

    code, reference = created["internalCode"], "a-private"
    # What B sends for each route: each names one of A's ids, or lists B's own things.
    probes: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
        ("GET", "/cash-out/{internalCode}"): (f"/cash-out/{code}", {}),
        ("GET", "/cash-out"): ("/cash-out", {"params": {"externalReference": reference}}),
        ("POST", "/cash-out"): ("/cash-out", {"json": cash_out_body(reference=reference)}),
        # After B's own cash-out above took A's reference for B: B's, never A's, is named.
        ("POST", "/cash-out/batch"): (
            "/cash-out/batch",
            {"json": {"items": [cash_out_body(reference=reference)]}},
        ),
        ("GET", "/balance"): ("/balance", {}),
        ("GET", "/statement"): ("/statement", {"params": {"limit": 1000}}),
        ("GET", "/statement.csv"): ("/statement.csv", {}),
        # Reads only the code it is sent: nothing of A's to reach.
        ("POST", "/brcode/decode"): ("/brcode/decode", {"json": {"brCode": BR_CODE}}),
        ("GET", "/webhooks"): ("/webhooks", {}),
        ("POST", "/webhooks"): ("/webhooks", {"json": {"url": "http://127.0.0.1:9/b"}}),
        ("GET", "/webhooks/deliveries"): ("/webhooks/deliveries", {}),
        ("POST", "/webhooks/deliveries/{deliveryId}/retry"): (
            f"/webhooks/deliveries/{delivery_id}/retry",
            {},
        ),
        ("DELETE", "/webhooks/{endpointId}"): (f"/webhooks/{endpoint['id']}", {}),
        ("POST", "/webhooks/{endpointId}/rotate-secret"): (
            f"/webhooks/{endpoint['id']}/rotate-secret",
            {},
        ),
        ("POST", "/webhooks/{endpointId}/replay"): (
            f"/webhooks/{endpoint['id']}/replay",
            {"json": REPLAY_WINDOW},
        ),
        ("GET", "/cash-in/{internalCode}"): (f"/cash-in/{charge['internalCode']}", {}),
        ("GET", "/cash-in"): ("/cash-in", {"params": {"externalReference": "a-charge"}}),
        ("DELETE", "/cash-in/{internalCode}"): (f"/cash-in/{charge['internalCode']}", {}),
        ("GET", "/cash-in/{internalCode}/qrcode.{format}"): (
            f"/cash-in/{charge['internalCode']}/qrcode.png",
            {},
        ),
        ("POST", "/cash-in"): (
            "/cash-in",
            {"json": {"amount": "1.00", "externalReference": "a-charge"}},
        ),
        ("GET", "/pix-keys"): ("/pix-keys", {}),
        ("POST", "/pix-keys"): ("/pix-keys", {"json": {"type": "EVP"}}),
        ("DELETE", "/pix-keys/{key}"): (f"/pix-keys/{a_key}", {}),
        # The sandbox's payee bank sends back only the caller's own cash-outs.
        ("POST", "/sandbox/cash-out/{internalCode}/return"): (
            f"/sandbox/cash-out/{code}/return",
            {"json": {"amount": "1.00"}},
        ),
        ("POST", "/cash-in/{internalCode}/refunds"): (
            f"/cash-in/{paid['internalCode']}/refunds",
            {"json": {"amount": "0.50"}},
        ),
        ("GET", "/cash-in/{internalCode}/refunds/{refundId}"): (refund_path, {}),
        ("POST", "/refunds"): ("/refunds", {"json": {"endToEndId": e2e, "amount": "0.50"}}),
        ("GET", "/refunds/{refundId}"): (f"/refunds/{a_refund}", {}),
        ("GET", "/infractions"): ("/infractions", {}),
        ("GET", "/infractions/{infractionId}"): (f"/infractions/{a_report}", {}),
        # A payer's PSP in the sandbox reports only a Pix the caller received.
        ("POST", "/sandbox/med/infractions"): (
            "/sandbox/med/infractions",
            {"json": {"endToEndId": e2e}},
        ),
    }
    assert set(probes) == _routes(server) - NOT_CLIENT_ROUTES, "a route has no tenancy probe"

    replies = {route: as_b(route[0], path, **kw) for route, (path, kw) in probes.items()}
    by_id = [route for route in probes if "{" in route[1]]
    by_id += [("GET", "/cash-out"), ("GET", "/cash-in"), ("POST", "/sandbox/med/infractions")]
    for route in by_id:
        reply = replies[route]
        assert reply.status_code == 404, (route, reply.text)
        assert reply.json()["error"]["code"] == "NOT_FOUND", route
    # The same answer as for an id that never existed: nothing tells B that A's exists.
    missing = str(uuid.uuid4())
    for route, theirs, unknown in (
        (("GET", "/cash-out/{internalCode}"), code, "ZZZZZZZZZZ"),
        (("DELETE", "/webhooks/{endpointId}"), endpoint["id"], missing),
        (("POST", "/webhooks/deliveries/{deliveryId}/retry"), delivery_id, missing),
    ):
        path = probes[route][0].replace(theirs, unknown)
        expected = as_b(route[0], path, **probes[route][1]).json()
        assert replies[route].json() == expected_with(expected, unknown, theirs), route
    # Lists show only B's own things; B's own cash-out may reuse A's reference.
    # (B's own cash-out may have settled by now, with a delivery to B's own endpoint.)
    seen = replies[("GET", "/webhooks/deliveries")].json()["data"]
    b_endpoint = replies[("POST", "/webhooks")].json()["id"]
    assert {d["endpointId"] for d in seen} <= {b_endpoint}, seen
    assert [e["url"] for e in replies[("GET", "/webhooks")].json()["data"]] == []
    assert replies[("POST", "/webhooks")].status_code == 201
    assert replies[("POST", "/cash-out")].status_code == 202
    (in_batch,) = replies[("POST", "/cash-out/batch")].json()["results"]
    b_code = replies[("POST", "/cash-out")].json()["internalCode"]
    assert in_batch["status"] == 409 and in_batch["error"]["details"] == {"internalCode": b_code}
    # B's 10.00 cash-out (no fee) leaves the total once it settles, which may be before
    # the balance was read: none of A's money shows either way.
    assert replies[("GET", "/balance")].json()["total"] in (100.00, 90.00)
    assert replies[("POST", "/brcode/decode")].json()["merchantName"] == "Fulano de Tal"
    assert replies[("POST", "/cash-in")].status_code == 201  # B's own, A's reference
    assert replies[("POST", "/pix-keys")].status_code == 201
    assert replies[("GET", "/infractions")].json()["items"] == []
    # The lists and the statement: B's own things only, whatever cursor B sends.
    a_lines = {line["movementId"] for line in a.get("/statement", limit=1000).json()["items"]}
    b_lines = replies[("GET", "/statement")].json()["items"]
    assert b_lines and not a_lines & {line["movementId"] for line in b_lines}
    assert not any(i in replies[("GET", "/statement.csv")].text for i in a_lines)
    b_outs = as_b("GET", "/cash-out", params={"limit": 1000}).json()["items"]
    assert code not in {c["internalCode"] for c in b_outs}
    b_charges = as_b("GET", "/cash-in", params={"limit": 1000}).json()["items"]
    assert charge["internalCode"] not in {c["internalCode"] for c in b_charges}
    a_cursor = a.get("/statement", limit=1).json()["nextCursor"]
    after = as_b("GET", "/statement", params={"cursor": a_cursor, "limit": 1000}).json()
    assert not a_lines & {line["movementId"] for line in after["items"]}
    # A's Pix is, to B, a Pix B never received: the answer an unknown one gets.
    refused = replies[("POST", "/refunds")]
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "PAYMENT_NOT_FOUND")
    # B's first charge registered a key for B; A's is not among B's.
    b_keys = [k["key"] for k in replies[("GET", "/pix-keys")].json()["items"]]
    assert len(b_keys) == 1 and a_key not in b_keys
    # A's things are as they were.
    assert a.balance() == a_before
    assert a.get(f"/cash-out/{code}").json()["status"] == "FAILED"
    assert [e["id"] for e in a.get("/webhooks").json()["data"]] == [endpoint["id"]]
    assert delivery_id in [d["id"] for d in a.get("/webhooks/deliveries").json()["data"]]
    assert a.get(f"/cash-in/{charge['internalCode']}").json()["status"] == "ACTIVE"
    assert a.get("/pix-keys").json()["items"] == a_keys
    assert [
        r["refundId"]
        for r in a.get(f"/cash-in/{paid['internalCode']}").json()["payments"][0]["refunds"]
    ] == [a_refund]
    assert a.get(f"/infractions/{a_report}").json()["status"] == "OPEN"
