"""``connectpsp clients rotate-secret`` against a running server, on SQLite and
PostgreSQL: the CLI is another process, so the server learns of the new secret from the
database. The old secret gets no token, a token issued for it is refused by a server
that reads the client afresh, and the secret printed once works."""

from __future__ import annotations

import json

from connectpsp.settings import Settings
from tests.e2e.test_cli import assert_one_line_error, cli, env
from tests.logscan import remember_secret
from tests.support import Api, RunningServer, new_merchant, running_server

__all__ = ["env"]  # the fixture, imported for pytest


def test_rotate_secret_prints_a_new_secret_once_and_refuses_the_old_one(
    env: dict[str, str], server: RunningServer, db_settings: Settings
) -> None:
    m = new_merchant(server)
    client_id = m.creds.client_id
    held = m.token  # issued for the old secret, before the rotation
    rotated = cli(env, "clients", "rotate-secret", client_id, "--json").stdout
    shown = json.loads(rotated)
    remember_secret(shown["clientSecret"])
    assert set(shown) == {"clientId", "clientSecret", "rotatedAt"}
    assert shown["clientId"] == client_id and shown["clientSecret"].startswith("cs_")
    assert shown["rotatedAt"].endswith("-03:00")

    old = m.http.post(
        "/auth/token", json={"clientId": client_id, "clientSecret": m.creds.client_secret}
    )
    assert old.status_code == 401 and old.json()["error"]["code"] == "INVALID_CREDENTIALS"
    new = m.http.post(
        "/auth/token", json={"clientId": client_id, "clientSecret": shown["clientSecret"]}
    )
    assert new.status_code == 200, new.text
    remember_secret(new.json()["accessToken"])
    with running_server(db_settings) as fresh:  # a server that reads the client afresh
        api = Api(fresh, m.creds)
        api._token = held
        refused = api.get("/balance")
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "UNAUTHORIZED"
        assert "replaced" in refused.json()["error"]["message"]
        api._token = new.json()["accessToken"]
        assert api.get("/balance").status_code == 200
        api.close()

    human = cli(env, "clients", "rotate-secret", client_id).stdout
    assert "clientSecret" in human and "Keep it safe" in human
    remember_secret(*(w for w in human.split() if w.startswith("cs_")))
    again = m.http.post(
        "/auth/token", json={"clientId": client_id, "clientSecret": shown["clientSecret"]}
    )
    assert again.status_code == 401  # the secret of the first rotation is gone too
    unknown = cli(
        env, "clients", "rotate-secret", "00000000-0000-0000-0000-000000000000", check=False
    )
    assert_one_line_error(unknown, 1, "No client 00000000-0000-0000-0000-000000000000.")
    m.close()
