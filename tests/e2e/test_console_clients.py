"""Managing clients in the console over HTTP, on the real server, on SQLite and
PostgreSQL: creating one (its credentials shown once, working at once, and found in no
later page, in no audit record and in no log line), disabling and enabling it, rotating
its secret (the old one and its tokens refused), changing its fees and limits; each in
the audit log with the client before and after, and each refused without the form's
CSRF token or a session."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectpsp.domain.clients import ClientCredentials
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.operators import AuditEntry
from tests.e2e.test_console import Console, signed_in
from tests.logscan import log_dir, remember_secret
from tests.support import Api, RunningServer, new_merchant

CREDENTIAL = re.compile(r'<code class="secret" id="(\w+)">([^<]+)</code>')
CLIENT_ID = re.compile(r'name="client_id" value="([^"]+)"')
SECRET_MARK = re.compile(r'name="secret" value="([^"]+)"')


@pytest.fixture
def console(server: RunningServer) -> Iterator[Console]:
    c = signed_in(server)
    yield c
    c.close()


def new_client_form(console: Console) -> dict[str, str]:
    page = console.http.get("/console/clients/new")
    assert page.status_code == 200, page.text
    found = CLIENT_ID.search(page.text)
    assert found
    return {"csrf": console.csrf("/console/clients/new"), "client_id": found.group(1)}


def shown_credentials(page: httpx.Response) -> dict[str, str]:
    shown = {name: html.unescape(value) for name, value in CREDENTIAL.findall(page.text)}
    remember_secret(*(v for k, v in shown.items() if k != "clientId"))
    return shown


def audited(server: RunningServer, subject: str) -> list[AuditEntry]:
    """The audit log's entries about ``subject``, newest first."""
    return [e for e in server.container.operators.audit_log(limit=200) if e.subject_id == subject]


def token_for(server: RunningServer, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/auth/token", json={"clientId": client_id, "clientSecret": secret}
    )


def assert_nowhere(secrets: list[str], *texts: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text


def logged_lines() -> str:
    directory = log_dir()
    assert directory is not None  # tests/conftest.py sets it for every run
    return "\n".join(p.read_text(errors="replace") for p in directory.glob("*.jsonl"))


def test_a_client_created_in_the_console_works_and_its_secrets_are_shown_once(
    server: RunningServer, console: Console
) -> None:
    form = {
        **new_client_form(console),
        "name": "Loja do Console",
        "document": "11144477735",
        "merchant_city": "Curitiba",
        "fee_fixed": "0.50",
        "fee_bps": "100",
        "cash_in_fee_fixed": "0.20",
        "cash_in_fee_bps": "",
        "per_transaction_limit": "1000.00",
        "daily_limit": "5000.00",
    }
    created = console.post("/console/clients", form)
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    shown = shown_credentials(created)
    assert set(shown) == {
        "clientId",
        "clientSecret",
        "cryptoToken",
        "applicationToken",
        "webhookSecret",
    }
    client_id = shown["clientId"]
    assert client_id == form["client_id"]
    secrets = [v for k, v in shown.items() if k != "clientId"]

    token = token_for(server, client_id, shown["clientSecret"])
    assert token.status_code == 200, token.text
    creds = ClientCredentials(
        client_id,
        shown["clientSecret"],
        shown["cryptoToken"],
        shown["applicationToken"],
        shown["webhookSecret"],
    )
    api = Api(server, creds)
    assert api.get("/balance").status_code == 200  # the applicationToken shown works too
    api.close()
    stored = server.container.clients.get(client_id)
    assert (stored.name, stored.document, stored.merchant_city) == (
        "Loja do Console",
        "11144477735",
        "Curitiba",
    )
    assert (stored.fee_plan, stored.cash_in_fee_plan) == (FeePlan(50, 100), FeePlan(20, 0))
    assert (stored.per_transaction_limit, stored.daily_limit) == (1000_00, 5000_00)

    again = console.post("/console/clients", form)  # the browser sends the form again
    assert again.status_code == 409 and "shown once" in again.text
    assert_nowhere(secrets, again.text)
    assert [c.id for c in server.container.clients.list()].count(client_id) == 1

    [entry] = audited(server, client_id)  # the form sent again did nothing
    assert (entry.action, entry.outcome, entry.before) == ("client.create", "done", None)
    assert entry.after is not None
    assert (entry.after["name"], entry.after["fee_fixed"], entry.after["active"]) == (
        "Loja do Console",
        50,
        True,
    )
    assert entry.after["document"] == "***.444.777-**"
    record = json.dumps(entry.after)
    assert "hash" not in record and "secret_hash" not in entry.after and "argon2" not in record
    later = [
        console.http.get(page).text
        for page in (
            "/console/clients",
            f"/console/clients/{client_id}",
            f"/console/clients/{client_id}/edit",
            f"/console/clients/{client_id}/rotate",
            "/console/audit",
        )
    ]
    assert all(client_id in page for page in later[:4])
    assert_nowhere(secrets, record, *later, logged_lines())


def test_a_bad_form_is_shown_again_naming_each_bad_field_and_creates_nothing(
    server: RunningServer, console: Console
) -> None:
    before = len(server.container.clients.list())
    form = {
        **new_client_form(console),
        "name": "  ",
        "document": "12345678900",
        "fee_bps": "abc",
        "daily_limit": "50.005",
        "per_transaction_limit": "1000.00",
    }
    refused = console.post("/console/clients", form)
    assert refused.status_code == 400, refused.text
    for field, says in (
        ("name", "must not be empty"),
        ("document", "is not a valid CPF"),
        ("fee_bps", "must be a whole number from 0 to 10000"),
        ("daily_limit", "must have at most 2 decimal places"),
    ):
        assert f"<code>{field}</code>): {says}" in refused.text, field
        assert f'id="e-{field}"' in refused.text
    assert 'value="1000.00"' in refused.text and 'value="50.005"' in refused.text  # kept
    assert f'value="{form["client_id"]}"' in refused.text  # the same client, once fixed
    assert len(server.container.clients.list()) == before
    no_id = console.post("/console/clients", {**form, "client_id": "../x", "name": "ok"})
    assert no_id.status_code == 400


def test_disabling_refuses_its_tokens_and_enabling_lets_it_in_again(
    server: RunningServer, console: Console
) -> None:
    m = new_merchant(server)
    client_id = m.creds.client_id
    held = m.headers(sign=False)
    token = console.csrf(f"/console/clients/{client_id}")
    disabled = console.post(f"/console/clients/{client_id}/disable", {"csrf": token})
    assert disabled.status_code == 303
    assert disabled.headers["location"] == f"/console/clients/{client_id}?done=disabled"
    page = console.http.get(disabled.headers["location"]).text
    assert "Disabled: it gets no token" in page and ">Enable</button>" in page
    refused = m.http.get("/balance", headers=held)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
    assert token_for(server, client_id, m.creds.client_secret).status_code == 401

    enabled = console.post(f"/console/clients/{client_id}/enable", {"csrf": token})
    assert enabled.status_code == 303
    assert m.http.get("/balance", headers=held).status_code == 200
    assert token_for(server, client_id, m.creds.client_secret).status_code == 200
    enable, disable = audited(server, client_id)
    assert (disable.action, disable.outcome) == ("client.disable", "done")
    assert disable.before is not None and disable.after is not None
    assert (disable.before["active"], disable.after["active"]) == (True, False)
    assert enable.action == "client.enable" and enable.after is not None
    assert enable.after["active"] is True
    unknown = console.post(f"/console/clients/{uuid.uuid4()}/disable", {"csrf": token})
    assert unknown.status_code == 404
    m.close()


def test_rotating_refuses_the_old_secret_and_its_tokens_and_shows_the_new_one_once(
    server: RunningServer, console: Console
) -> None:
    m = new_merchant(server)
    client_id = m.creds.client_id
    held = m.headers(sign=False)  # a token of the old secret
    form_page = console.http.get(f"/console/clients/{client_id}/rotate")
    assert form_page.status_code == 200 and "never" in form_page.text
    mark = SECRET_MARK.search(form_page.text)
    assert mark
    form = {"csrf": console.csrf(f"/console/clients/{client_id}/rotate"), "secret": mark[1]}
    rotated = console.post(f"/console/clients/{client_id}/rotate", form)
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    shown = shown_credentials(rotated)
    assert set(shown) == {"clientSecret"} and client_id in rotated.text
    secret = shown["clientSecret"]
    assert secret != m.creds.client_secret

    old = token_for(server, client_id, m.creds.client_secret)
    assert old.status_code == 401 and old.json()["error"]["code"] == "INVALID_CREDENTIALS"
    stale = m.http.get("/balance", headers=held)
    assert stale.status_code == 401 and "replaced" in stale.json()["error"]["message"]
    new = token_for(server, client_id, secret)
    assert new.status_code == 200
    remember_secret(new.json()["accessToken"])
    fresh = {**held, "Authorization": f"Bearer {new.json()['accessToken']}"}
    assert m.http.get("/balance", headers=fresh).status_code == 200

    again = console.post(f"/console/clients/{client_id}/rotate", form)  # sent again
    assert again.status_code == 409 and "open the form again" in again.text
    assert token_for(server, client_id, secret).status_code == 200  # still the one shown
    [entry] = audited(server, client_id)
    page = console.http.get(f"/console/clients/{client_id}").text
    assert "Secret rotated" in page and entry.after is not None
    assert_nowhere([secret], page)
    # Rotated again in the same second (the server's clock stands still): the form of
    # the first rotation, sent again, is still told apart and refused.
    mark = SECRET_MARK.search(console.http.get(f"/console/clients/{client_id}/rotate").text)
    assert mark
    second = console.post(f"/console/clients/{client_id}/rotate", {**form, "secret": mark[1]})
    assert second.status_code == 200
    latest = shown_credentials(second)["clientSecret"]
    late = console.post(f"/console/clients/{client_id}/rotate", {**form, "secret": mark[1]})
    assert late.status_code == 409
    assert token_for(server, client_id, secret).status_code == 401
    entry = audited(server, client_id)[-1]  # the first rotation (newest first)
    assert (entry.action, entry.outcome) == ("client.rotate_secret", "done")
    assert entry.before is not None and entry.after is not None
    assert entry.before["secret_rotated_at"] is None
    assert entry.after["secret_rotated_at"].endswith("-03:00")
    assert_nowhere(
        [secret, latest],
        json.dumps(entry.before),
        json.dumps(entry.after),
        json.dumps([e.after for e in audited(server, client_id)]),
        console.http.get("/console/audit").text,
        logged_lines(),
    )
    m.close()


def test_fees_and_limits_are_changed_checked_and_audited(
    server: RunningServer, console: Console
) -> None:
    m = new_merchant(server, fee=FeePlan(fixed=10))
    client_id = m.creds.client_id
    edit = console.http.get(f"/console/clients/{client_id}/edit")
    assert edit.status_code == 200 and 'name="fee_fixed" value="0.10"' in edit.text
    token = console.csrf(f"/console/clients/{client_id}/edit")
    path = f"/console/clients/{client_id}/edit"
    bad = console.post(path, {"csrf": token, "fee_fixed": "0.075", "cash_in_fee_bps": "10001"})
    assert bad.status_code == 400
    assert "<code>fee_fixed</code>): must have at most 2 decimal places" in bad.text
    assert "<code>cash_in_fee_bps</code>)" in bad.text
    assert server.container.clients.get(client_id).fee_plan == FeePlan(fixed=10)
    assert console.post(path, {"csrf": token}).status_code == 400  # nothing given

    form: dict[str, Any] = {
        "csrf": token,
        "fee_fixed": "0.07",
        "fee_bps": "150",
        "cash_in_fee_fixed": "0",
        "cash_in_fee_bps": "25",
        "per_transaction_limit": "2500.00",
        "daily_limit": "",  # blank: kept
    }
    daily = server.container.clients.get(client_id).daily_limit
    changed = console.post(path, form)
    assert changed.status_code == 303, changed.text
    page = console.http.get(changed.headers["location"]).text
    assert "R$ 0,07 + 1,50%" in page and "R$ 2.500,00" in page and "fees and limits" in page
    stored = server.container.clients.get(client_id)
    assert (stored.fee_plan, stored.cash_in_fee_plan) == (FeePlan(7, 150), FeePlan(0, 25))
    assert (stored.per_transaction_limit, stored.daily_limit) == (2500_00, daily)
    [entry] = audited(server, client_id)
    assert (entry.action, entry.outcome) == ("client.update", "done")
    assert entry.before is not None and entry.after is not None
    assert (entry.before["fee_fixed"], entry.after["fee_fixed"]) == (10, 7)
    assert (entry.before["fee_bps"], entry.after["fee_bps"]) == (0, 150)
    assert entry.after["per_transaction_limit"] == 2500_00
    assert entry.before["daily_limit"] == entry.after["daily_limit"] == daily
    m.close()


def test_forged_and_logged_out_actions_are_refused_and_change_nothing(
    server: RunningServer, console: Console
) -> None:
    m = new_merchant(server)
    client_id = m.creds.client_id
    clients = len(server.container.clients.list())
    posts = {
        "/console/clients": {**new_client_form(console), "name": "Forged"},
        f"/console/clients/{client_id}/disable": {"disable": "yes"},
        f"/console/clients/{client_id}/rotate": {"secret": "x"},
        f"/console/clients/{client_id}/edit": {"fee_fixed": "9.99"},
    }
    anonymous = httpx.Client(base_url=server.base_url)
    for path, form in posts.items():
        fields = {k: v for k, v in form.items() if k != "csrf"}
        assert console.post(path, fields).status_code == 403, path
        assert console.post(path, {**fields, "csrf": "forged"}).status_code == 403, path
        logged_out = anonymous.post(path, data={**form})
        assert logged_out.status_code == 401 and "not signed in" in logged_out.text, path
    for page in ("/console/clients/new", f"/console/clients/{client_id}/rotate"):
        assert anonymous.get(page).status_code == 303  # to the login form
    anonymous.close()
    stored = server.container.clients.get(client_id)
    assert stored.active and stored.secret_rotated_at is None and stored.fee_plan == FeePlan()
    assert len(server.container.clients.list()) == clients
    assert token_for(server, client_id, m.creds.client_secret).status_code == 200
    assert audited(server, client_id) == []
    m.close()
