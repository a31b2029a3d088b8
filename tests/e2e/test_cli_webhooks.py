"""``connectpsp webhooks failed`` and ``webhooks retry`` as an operator runs them, in
subprocesses, beside a server whose worker delivers to a receiver answering 500, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from typing import Any

from connectpsp.settings import Settings
from tests.e2e.test_cli import assert_one_line_error, cli, env  # noqa: F401 - the fixture
from tests.receiver import receiver
from tests.support import Api, new_merchant, running_server, wait_terminal

MARIA_KEY = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "maria.silva@sandbox.connectpsp.dev"}


def deliveries(m: Api, status: str, attempts: int = 0, timeout: float = 10) -> list[Any]:
    """The client's deliveries in ``status``, once one has ``attempts`` recorded."""
    deadline = time.monotonic() + timeout
    while True:
        found: list[Any] = m.get("/webhooks/deliveries", status=status).json()["data"]
        if found and all(len(d["attempts"]) >= attempts for d in found):
            return found
        assert time.monotonic() < deadline, f"no {status} delivery with {attempts} attempts"
        time.sleep(0.05)


def test_failed_lists_a_delivery_every_attempt_of_which_failed_and_retry_sends_it(
    env: dict[str, str],  # noqa: F811 - the fixture
    db_settings: Settings,
) -> None:
    with receiver() as hook, running_server(db_settings, worker=True) as server:
        hook.script = [(500, {})] * 8  # every scheduled attempt; the 9th is answered 200
        m = new_merchant(server, fund=100_00)
        reply = m.http.post("/webhooks", json={"url": hook.url}, headers=m.headers(sign=False))
        endpoint = reply.json()
        hook.expect(endpoint["secret"])
        wait_terminal(m, m.cash_out(destination=MARIA_KEY).json()["internalCode"])
        hook.wait_for(1)
        for n in range(2, 9):  # the schedule's waits, passed on the server's clock
            server.clock.advance(hours=11)
            server.container.worker.wake()
            hook.wait_for(n)
        m.renew_token()  # the old one expired on the advanced clock
        (failed,) = deliveries(m, "failed", attempts=8)
        other = new_merchant(server)

        listed = cli(env, "webhooks", "failed", "--json").stdout.splitlines()
        (shown,) = [json.loads(line) for line in listed]
        assert shown == {
            "deliveryId": failed["id"],
            "clientId": m.creds.client_id,
            "endpointId": endpoint["id"],
            "url": hook.url,
            "eventType": failed["eventType"],
            "status": "failed",
            "attempts": 8,
            "lastAttemptAt": shown["lastAttemptAt"],
            "lastStatusCode": 500,
            "lastError": shown["lastError"],
            "createdAt": shown["createdAt"],
        }
        assert shown["lastAttemptAt"].endswith("-03:00")
        mine = cli(env, "webhooks", "failed", "--client", m.creds.client_id).stdout
        (line,) = mine.splitlines()
        assert failed["id"] in line and "attempts 8" in line and "last 500" in line
        assert hook.url in line and failed["eventType"] in line
        assert cli(env, "webhooks", "failed", "--client", other.creds.client_id).stdout == ""

        out = cli(env, "webhooks", "retry", failed["id"]).stdout
        assert failed["id"] in out and m.creds.client_id in out
        hook.wait_for(9)  # the server's worker sent it again, at its next look
        assert deliveries(m, "succeeded")[0]["id"] == failed["id"]
        assert cli(env, "webhooks", "failed", "--json").stdout == ""
        unknown = cli(env, "webhooks", "retry", "no-such-delivery", check=False)
        assert_one_line_error(unknown, 1, "No webhook delivery no-such-delivery.")
        m.close()
        other.close()
