"""The console's webhook endpoints over HTTP, on SQLite and PostgreSQL: a replay of a
window (in São Paulo's time) queues its events again and a real receiver gets them,
signed, with their original webhook-id; it is CSRF-checked, refused for a logged-out
browser, a bad window (the field named) or another client's endpoint, and audited with
the endpoint, the window and the count. A delivery that succeeded is sent again."""

from __future__ import annotations

import html
from datetime import timedelta

from connectpsp.domain.clock import SAO_PAULO
from tests.e2e.test_cli_webhooks import MARIA_KEY
from tests.e2e.test_console import Console, signed_in
from tests.receiver import receiver
from tests.support import RunningServer, new_merchant, wait_terminal

PAGE = "/console/webhooks/endpoints"


def test_a_replay_sends_the_windows_events_again_and_is_audited(
    settling_server: RunningServer,
) -> None:
    m = new_merchant(settling_server, fund=100_00)
    other = new_merchant(settling_server)
    with receiver() as hook:
        made = m.http.post("/webhooks", json={"url": hook.url}, headers=m.headers(sign=False))
        assert made.status_code == 201, made.text
        endpoint = made.json()
        hook.expect(endpoint["secret"])
        now = settling_server.clock.now().astimezone(SAO_PAULO)
        for _ in range(2):
            code = m.cash_out(destination=MARIA_KEY).json()["internalCode"]
            assert wait_terminal(m, code)["status"] == "COMPLETED"
        first = hook.wait_for(2)
        sent = sorted(r.headers["webhook-id"] for r in first)
        assert len(set(sent)) == 2

        console = signed_in(settling_server)
        listed = console.http.get(PAGE)
        assert listed.status_code == 200
        row = listed.text.split(f'id="endpoint-{endpoint["id"]}"')[1].split("</tr>")[0]
        assert hook.url in row and m.creds.client_id in row and "enabled" in row
        token = console.csrf(PAGE)
        action = f"{PAGE}/{endpoint['id']}/replay"
        window = {
            "client": m.creds.client_id,
            "from": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
            "to": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
        }

        for bad, field, why in (
            ({"from": ""}, "from", "is required"),
            ({"from": "05/12/2026"}, "from", "must be a São Paulo time"),
            ({"to": window["from"]}, "to", "must be after from"),
        ):
            refused = console.post(action, {"csrf": token, **window, **bad})
            assert refused.status_code == 400, refused.text
            text = html.unescape(refused.text)
            assert f"<code>{field}</code> {why}" in text and "Invalid window" in text
        assert console.post(action, window).status_code == 403  # no CSRF token
        assert Console(settling_server).post(action, {"csrf": token, **window}).status_code == 401
        theirs = console.post(action, {"csrf": token, **window, "client": other.creds.client_id})
        assert theirs.status_code == 404 and "No webhook endpoint" in theirs.text
        assert len(hook.requests) == 2  # nothing was replayed so far

        done = console.post(action, {"csrf": token, **window})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"{PAGE}?replayed=2&endpoint={endpoint['id']}"
        shown = console.http.get(done.headers["location"]).text
        assert (
            f"Replayed: 2 events queued again for endpoint <code>{endpoint['id']}</code>" in shown
        )
        again = hook.wait_for(4)[2:]  # the worker sent them, signed, as they were
        assert sorted(r.headers["webhook-id"] for r in again) == sent
        assert sorted(r.body for r in again) == sorted(r.body for r in first)

        entries = settling_server.container.operators.audit_log(limit=20)
        (entry,) = [e for e in entries if e.action == "webhook.replay" and e.outcome == "done"]
        assert entry.subject_kind == "webhook_endpoint" and entry.subject_id == endpoint["id"]
        assert entry.before is not None and entry.after is not None
        assert entry.before["url"] == hook.url and entry.before["endpoint_id"] == endpoint["id"]
        assert entry.before["since"] == f"{window['from']}:00-03:00"
        assert entry.before["until"].endswith("T00:00:00-03:00")
        assert entry.after == {**entry.before, "replayed": 2}

        # One client's page lists its deliveries; a successful one is sent again.
        mine = console.http.get(PAGE, params={"client": m.creds.client_id})
        assert mine.status_code == 200 and 'id="deliveries"' in mine.text
        (succeeded, *_) = [
            d
            for d in m.get("/webhooks/deliveries", status="succeeded").json()["data"]
            if d["webhookId"] == sent[0]
        ]
        assert f'id="delivery-{succeeded["id"]}"' in mine.text
        back = f"{PAGE}?client={m.creds.client_id}"
        resent = console.post(
            f"/console/webhooks/{succeeded['id']}/retry", {"csrf": token, "back": back}
        )
        assert resent.status_code == 303
        assert resent.headers["location"] == f"{back}&retried={succeeded['id']}"
        assert hook.wait_for(5)[4].headers["webhook-id"] == sent[0]
        entries = settling_server.container.operators.audit_log(limit=20)
        (retry,) = [e for e in entries if e.action == "webhook.retry" and e.outcome == "done"]
        assert retry.subject_id == succeeded["id"]
        assert retry.before is not None and retry.before["status"] == "succeeded"
        console.close()
    m.close()
    other.close()
