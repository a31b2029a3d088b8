"""The operator console over HTTP, on the real server, on SQLite and PostgreSQL: logins
(right, wrong, throttled), the session cookie, CSRF on every form, logged-out requests
and API tokens refused, the pages' figures in Brazilian style, and a MED decision taken
in the console and written to the audit log with the report before and after."""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.migrate import upgrade
from connectpsp.settings import Settings
from tests.cli_process import run_command
from tests.e2e.test_med import merchant, received, report
from tests.logscan import remember_secret
from tests.receiver import receiver
from tests.support import RunningServer, running_server

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Console:
    """One operator's browser, as far as HTTP goes: a cookie jar and the forms' tokens."""

    def __init__(self, server: RunningServer) -> None:
        self.http = httpx.Client(base_url=server.base_url, timeout=30)

    def csrf(self, path: str) -> str:
        page = self.http.get(path)
        assert page.status_code == 200, page.text
        found = _CSRF.search(page.text)
        assert found, page.text
        return html.unescape(found.group(1))

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        token = self.csrf("/console/login")
        return self.post("/console/login", {"email": email, "password": password, "csrf": token})

    def post(self, path: str, form: dict[str, str]) -> httpx.Response:
        return self.http.post(path, data=form)

    def close(self) -> None:
        self.http.close()


def new_operator(server: RunningServer, email: str | None = None) -> str:
    email = email or f"op-{uuid.uuid4().hex[:8]}@example.com"
    server.container.operators.create(email, PASSWORD)
    return email


def signed_in(server: RunningServer) -> Console:
    console = Console(server)
    answer = console.login(new_operator(server))
    assert answer.status_code == 303, answer.text
    remember_secret(console.http.cookies["connectpsp_console"])
    return console


@pytest.fixture
def console(settling_server: RunningServer) -> Iterator[Console]:
    c = signed_in(settling_server)
    yield c
    c.close()


def test_a_login_sets_a_strict_httponly_cookie_and_opens_the_dashboard(
    settling_server: RunningServer,
) -> None:
    c = Console(settling_server)
    form = c.http.get("/console/login")
    assert form.headers["content-security-policy"].startswith("default-src 'self'")
    login_cookie = form.headers["set-cookie"].lower()
    assert "httponly" in login_cookie and "samesite=strict" in login_cookie
    answer = c.login(new_operator(settling_server))
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    [cookie] = [c for c in answer.headers.get_list("set-cookie") if "connectpsp_console=" in c]
    assert cookie.startswith("connectpsp_console=")
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert "secure" not in attributes  # the sandbox serves plain HTTP on loopback
    assert not any(a.startswith(("max-age", "expires")) for a in attributes)
    dashboard = c.http.get("/console/")
    assert dashboard.status_code == 200 and "Settlement" in dashboard.text
    assert dashboard.headers["cache-control"] == "no-store"
    c.close()


def test_a_wrong_password_is_refused_and_the_form_shown_again(
    settling_server: RunningServer,
) -> None:
    c = Console(settling_server)
    answer = c.login(new_operator(settling_server), "not the password")
    assert answer.status_code == 401 and "Wrong email or password." in answer.text
    assert "connectpsp_console" not in c.http.cookies
    unknown = c.login("nobody@example.com")
    assert unknown.status_code == 401 and "Wrong email or password." in unknown.text
    assert c.http.get("/console/").status_code == 303
    c.close()


def test_logins_are_rate_limited(settling_server: RunningServer) -> None:
    c = Console(settling_server)
    email = new_operator(settling_server)
    for _ in range(5):
        assert c.login(email, "guessing again").status_code == 401
    limited = c.login(email)  # the right password, too late
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["retry-after"]) > 0
    assert "Too many failed attempts" in limited.text
    assert "connectpsp_console" not in c.http.cookies
    c.close()


def test_a_forged_login_form_is_refused(settling_server: RunningServer) -> None:
    email = new_operator(settling_server)
    c = Console(settling_server)
    no_cookie = c.post("/console/login", {"email": email, "password": PASSWORD, "csrf": "x"})
    assert no_cookie.status_code == 403
    c.csrf("/console/login")  # the cookie is set; the form's token is not sent back
    for token in ({}, {"csrf": "forged"}):
        forged = c.post("/console/login", {"email": email, "password": PASSWORD, **token})
        assert forged.status_code == 403, forged.text
    assert "connectpsp_console" not in c.http.cookies
    c.close()


def test_logged_out_requests_are_redirected_or_refused(settling_server: RunningServer) -> None:
    anonymous = httpx.Client(base_url=settling_server.base_url)
    for page in (
        "/console/",
        "/console/clients",
        "/console/cash-outs",
        f"/console/cash-outs/{uuid.uuid4()}",
        "/console/webhooks",
        "/console/infractions",
        "/console/audit",
    ):
        answer = anonymous.get(page)
        assert answer.status_code == 303, page
        assert answer.headers["location"].startswith("/console/login?next=")
    infraction = f"/console/infractions/{uuid.uuid4()}/accept"
    refused = anonymous.post(infraction, data={"csrf": "whatever"})
    assert refused.status_code == 401 and "not signed in" in refused.text
    anonymous.close()
    with httpx.Client(
        base_url=settling_server.base_url, cookies={"connectpsp_console": "an-ended-session"}
    ) as stale:
        assert stale.get("/console/").status_code == 303


def test_an_api_clients_token_opens_no_console(settling_server: RunningServer) -> None:
    m = merchant(settling_server)
    headers = m.headers()
    with httpx.Client(base_url=settling_server.base_url) as http:
        for page in ("/console/", "/console/cash-outs", "/console/webhooks"):
            assert http.get(page, headers=headers).status_code == 303
        http.cookies.set("connectpsp_console", m.token)
        assert http.get("/console/").status_code == 303
        posted = http.post(
            f"/console/infractions/{uuid.uuid4()}/accept", headers=headers, data={"csrf": "x"}
        )
        assert posted.status_code == 401
        retried = http.post(
            f"/console/webhooks/{uuid.uuid4()}/retry", headers=headers, data={"csrf": "x"}
        )
        assert retried.status_code == 401
    m.close()


def test_the_console_is_not_in_the_openapi_description(settling_server: RunningServer) -> None:
    spec = httpx.get(f"{settling_server.base_url}/openapi.json").json()
    assert not [p for p in spec["paths"] if p.startswith("/console") or p == "/"]
    home = httpx.get(settling_server.base_url + "/")
    assert home.status_code == 200
    assert 'href="/console/"' in home.text and 'href="/docs"' in home.text
    css = httpx.get(settling_server.base_url + "/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "http://" not in css.text and "https://" not in css.text


def test_accepting_a_med_report_in_the_console_is_audited(
    settling_server: RunningServer, console: Console
) -> None:
    m = merchant(settling_server, fund=2_00)
    _, e2e = received(m, "10.00")
    infraction = report(m, e2e, amount="8.00").json()["infractionId"]
    page = console.http.get("/console/infractions")
    assert page.status_code == 200
    assert f"/console/infractions/{infraction}/accept" in page.text
    assert page.text.count("R$ 8,00") == 2  # asked and blocked
    token = console.csrf("/console/infractions")

    forged = console.post(f"/console/infractions/{infraction}/accept", {"accept": "yes"})
    assert forged.status_code == 403
    wrong = console.post(f"/console/infractions/{infraction}/accept", {"csrf": token[:-2] + "00"})
    assert wrong.status_code == 403
    as_json = console.http.post(f"/console/infractions/{infraction}/accept", json={"csrf": token})
    assert as_json.status_code == 415
    still = m.get(f"/infractions/{infraction}").json()
    assert still["status"] == "OPEN"

    accepted = console.post(f"/console/infractions/{infraction}/accept", {"csrf": token})
    assert accepted.status_code == 303, accepted.text
    assert m.get(f"/infractions/{infraction}").json()["status"] == "ACCEPTED"
    again = console.post(f"/console/infractions/{infraction}/accept", {"csrf": token})
    assert again.status_code == 409 and "accepted already" in again.text

    entries = [
        e
        for e in settling_server.container.operators.audit_log(limit=50)
        if e.subject_id == infraction
    ]
    assert [e.outcome for e in entries] == ["refused", "done"]  # newest first
    done = entries[1]
    assert done.action == "infraction.accept" and done.operator_id is not None
    before, after = done.before, done.after
    assert before is not None and after is not None
    assert (before["status"], before["blocked"], before["decided_by"]) == ("OPEN", 800, None)
    assert (after["status"], after["decided_by"]) == ("ACCEPTED", "operator")
    assert after["refund_id"] is not None
    audit = console.http.get("/console/audit")
    assert audit.status_code == 200
    assert console.http.get("/console/audit?before=x1").status_code == 400
    older = console.http.get(f"/console/audit?before={done.id}")
    assert older.status_code == 200 and infraction not in older.text  # only entries before it
    assert "infraction.accept" in audit.text and infraction in audit.text
    m.close()


def test_rejecting_needs_a_reason_and_is_audited(
    settling_server: RunningServer, console: Console
) -> None:
    m = merchant(settling_server)
    _, e2e = received(m, "3.00")
    infraction = report(m, e2e).json()["infractionId"]
    token = console.csrf("/console/infractions")
    path = f"/console/infractions/{infraction}/reject"
    assert console.post(path, {"csrf": token, "reason": "  "}).status_code == 400
    assert console.post(path, {"csrf": token, "reason": "x" * 501}).status_code == 400
    done = console.post(path, {"csrf": token, "reason": "the payer's own account"})
    assert done.status_code == 303
    seen = m.get(f"/infractions/{infraction}").json()
    assert (seen["status"], seen["rejectionReason"]) == ("REJECTED", "the payer's own account")
    [entry] = [
        e
        for e in settling_server.container.operators.audit_log(limit=50)
        if e.subject_id == infraction
    ]
    assert entry.after is not None and entry.before is not None
    assert (entry.before["status"], entry.after["status"]) == ("OPEN", "REJECTED")
    assert (
        console.post(f"/console/infractions/{uuid.uuid4()}/accept", {"csrf": token}).status_code
        == 404
    )
    m.close()


def test_the_pages_show_reais_and_sao_paulo_times(
    settling_server: RunningServer, console: Console
) -> None:
    m = merchant(settling_server, fund=12_345_67)
    clients = console.http.get("/console/clients").text
    assert "R$ 12.345,67" in clients and m.creds.client_id in clients
    detail = console.http.get(f"/console/clients/{m.creds.client_id}").text
    assert "R$ 12.345,67" in detail and "-03:00" in detail
    assert "R$ 0,20 + 0,00%" in detail  # its cash-in fee
    assert console.http.get(f"/console/clients/{uuid.uuid4()}").status_code == 404
    dashboard = console.http.get("/console/").text
    assert re.search(r"Today, \d\d/\d\d/\d{4}", dashboard)
    m.close()


def test_logout_ends_the_session_and_needs_its_token(
    settling_server: RunningServer, console: Console
) -> None:
    cookie = console.http.cookies["connectpsp_console"]
    assert console.post("/console/logout", {"logout": "yes"}).status_code == 403
    token = console.csrf("/console/")
    out = console.post("/console/logout", {"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    with httpx.Client(
        base_url=settling_server.base_url, cookies={"connectpsp_console": cookie}
    ) as again:
        assert again.get("/console/").status_code == 303  # the old cookie opens nothing


def test_outside_the_sandbox_the_cookie_is_secure(db_settings: Settings, tmp_path: Any) -> None:
    production = replace(db_settings, env="production", var_dir=tmp_path)
    with running_server(production) as server:
        c = Console(server)
        form = c.http.get("/console/login")
        assert form.headers["set-cookie"].startswith("__Host-connectpsp_console_login=")
        email = new_operator(server)
        token = _CSRF.search(form.text)
        assert token is not None
        # httpx keeps Secure cookies for https only: send it back by hand.
        login_cookie = form.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        with httpx.Client(
            base_url=server.base_url, cookies={"__Host-connectpsp_console_login": login_cookie}
        ) as http:
            answer = http.post(
                "/console/login",
                data={"email": email, "password": PASSWORD, "csrf": token.group(1)},
            )
        assert answer.status_code == 303, answer.text
        [cookie] = [c for c in answer.headers.get_list("set-cookie") if "connectpsp_console=" in c]
        assert cookie.startswith("__Host-connectpsp_console=")
        assert "secure" in cookie.lower() and "samesite=strict" in cookie.lower()
        c.close()


def test_operators_create_and_list_in_the_cli(db_settings: Settings, tmp_path: Any) -> None:
    db = Database(db_settings.database_url, schema=db_settings.database_schema, pool_size=1)
    try:
        upgrade(db)
    finally:
        db.dispose()
    env = {
        "PATH": "/usr/bin:/bin",
        "CONNECTPSP_DATABASE_URL": db_settings.database_url,
        "CONNECTPSP_VAR_DIR": str(tmp_path / "var"),
        "CONNECTPSP_MASTER_KEY": base64.urlsafe_b64encode(db_settings.master_key).decode(),
        **(
            {"CONNECTPSP_DATABASE_SCHEMA": db_settings.database_schema}
            if db_settings.database_schema
            else {}
        ),
    }
    email = f"Cli-{uuid.uuid4().hex[:6]}@Example.com"

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return run_command(["operators", *args], env, stdin=stdin, timeout=120)

    made = run("create", "--email", email, "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    assert f"operator {email.lower()} created" in made.stdout
    assert PASSWORD not in made.stdout + made.stderr
    again = run("create", "--email", email, "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "already" in again.stderr
    short = run("create", "--email", "x@example.com", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "password must be 12" in short.stderr
    no_tty = run("create", "--email", "y@example.com")
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    bad = run("create", "--email", "not-an-email", "--password-stdin", stdin=PASSWORD)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --email must be an email")
    listed = run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows: list[dict[str, Any]] = [json.loads(line) for line in listed.stdout.splitlines()]
    [row] = [r for r in rows if r["email"] == email.lower()]  # the module's others too
    assert row["active"] is True and row["createdAt"].endswith("-03:00")
    with running_server(db_settings) as server:
        c = Console(server)
        assert c.login(email.lower()).status_code == 303
        assert c.http.get("/console/").status_code == 200
        off = run("disable", "--email", email)
        assert off.returncode == 0 and "disabled" in off.stdout, off.stderr
        assert c.http.get("/console/").status_code == 303  # its session ended
        assert c.login(email.lower()).status_code == 401
        assert run("enable", "--email", email).returncode == 0
        assert c.login(email.lower()).status_code == 303
        c.close()
    missing = run("disable", "--email", "nobody@example.com")
    assert missing.returncode == 1 and "No operator nobody@example.com" in missing.stderr


def test_the_dashboard_shows_a_failing_webhook_target(
    settling_server: RunningServer, console: Console
) -> None:
    m = merchant(settling_server)
    with receiver() as hook:
        hook.script = [(500, {})] * 20
        url = f"{hook.url}/failing-{uuid.uuid4().hex[:6]}"
        made = m.http.post("/webhooks", json={"url": url}, headers=m.headers(sign=False))
        assert made.status_code == 201, made.text
        received(m, "5.00")
        deadline = time.monotonic() + 20
        while True:
            page = console.http.get("/console/").text
            row = re.search(rf"<tr>\s*<td>.*?{re.escape(url)}.*?</tr>", page, re.S)
            if row and "500" in row.group(0):
                break
            assert time.monotonic() < deadline, page
            time.sleep(0.1)
    assert m.creds.client_id in row.group(0)  # its link
    assert f">{server_client_name(settling_server, m)}<" in row.group(0)
    m.close()


def server_client_name(server: RunningServer, m: Any) -> str:
    return server.container.clients.get(m.creds.client_id).name
