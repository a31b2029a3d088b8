"""The operator console in a real browser: Debian's headless Chromium (installed by
scripts/ensure-chromium.sh, which `make test` runs), driven by Playwright, with every
connection but to the loopback server sent to a dead proxy, as on a machine that reaches
nothing. An operator logs in, reads the dashboard, accepts a MED report; a forged form
(no CSRF token), a form posted from another site and a logged-out browser are refused.
Another finds a cash-out by its endToEndId, reads its timeline and retries its failed
webhook; an API client's Bearer token opens nothing.

With CONNECTPSP_SCREENSHOTS=docs/img the test also writes the README's screenshots."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.e2e.test_cli_webhooks import deliveries
from tests.e2e.test_console import PASSWORD, new_operator
from tests.e2e.test_console_cashouts import failed_delivery
from tests.e2e.test_med import merchant, received, report
from tests.receiver import receiver
from tests.support import RunningServer, cash_out_body, new_merchant, wait_terminal

ENSURE = "scripts/ensure-chromium.sh"
SCREENSHOTS = "CONNECTPSP_SCREENSHOTS"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, f"Chromium is not installed: run {ENSURE} (make test does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            args=ARGS,
            # Nothing listens on port 9: a request for any other host fails, as offline.
            proxy={"server": "http://127.0.0.1:9", "bypass": "127.0.0.1,localhost"},
        )
        yield launched
        launched.close()


def signed_in_page(
    browser: Browser, base: str, email: str
) -> tuple[BrowserContext, Page, list[str]]:
    """A fresh browser signed in as ``email``, on the dashboard, and every URL it asks for
    (to check that none is another host's)."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.goto(f"{base}/console/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Today, ")
    return context, page, seen


def shoot(page: Page, name: str) -> None:
    """The page as the README shows it, when CONNECTPSP_SCREENSHOTS names a directory."""
    directory = os.environ.get(SCREENSHOTS)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"console-{name}.png"), full_page=True)


class Attacker:
    """Another site (localhost, not 127.0.0.1) whose page posts a form to the console."""

    def __init__(self, target: str) -> None:
        body = (
            "<!doctype html><title>win a prize</title>"
            f'<form id="f" method="post" action="{target}">'
            '<input type="hidden" name="csrf" value="guessed"></form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()

        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.url = f"http://localhost:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_operator_logs_in_and_accepts_a_med_report_in_chromium(
    settling_server: RunningServer, browser: Browser
) -> None:
    base = settling_server.base_url
    m = merchant(settling_server, fund=1_250_00)
    _, first = received(m, "10.00")
    _, second = received(m, "1500.00")
    to_accept = report(m, first, amount="8.00", details="golpe do falso parente").json()
    to_forge = report(m, second).json()["infractionId"]
    paid = m.cash_out(cash_out_body(amount="250.00")).json()["internalCode"]
    assert wait_terminal(m, paid)["status"] == "COMPLETED"
    email = new_operator(settling_server, "ana.operadora@example.com")

    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))

    page.goto(f"{base}/console/infractions")
    expect(page).to_have_url(f"{base}/console/login?next=/console/infractions")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_have_text("Wrong email or password.")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/console/infractions")  # back where it was going

    page.click("nav >> text=Dashboard")
    expect(page.locator("h1")).to_contain_text("Today, ")
    expect(page.locator("#settlement-backlog")).to_have_text("0")
    expect(page.locator("main")).to_contain_text("R$ 1.510,00")  # the two Pix received
    expect(page.locator("main")).to_contain_text("R$ 250,00")  # the cash-out, COMPLETED
    shoot(page, "dashboard")

    page.click("nav >> text=Clients")
    client_row = page.locator("tr", has_text=m.creds.client_id)
    # 1.250,00 funded, 9,80 and 1.499,80 received (a 0,20 fee each), 250,00 paid out,
    # 1.508,00 blocked.
    expect(client_row).to_contain_text("R$ 1.001,60")
    expect(client_row).to_contain_text("R$ 1.508,00")
    shoot(page, "clients")
    page.click("nav >> text=MED")
    row = page.locator(f"#infraction-{to_accept['infractionId']}")
    expect(row).to_contain_text("golpe do falso parente")
    expect(row).to_contain_text("R$ 8,00")
    expect(row).to_contain_text("-03:00")
    shoot(page, "med")
    row.locator("button.accept").click()
    expect(page.locator(".notice")).to_contain_text(to_accept["infractionId"])
    expect(row).to_contain_text("accepted by operator")
    assert m.get(f"/infractions/{to_accept['infractionId']}").json()["status"] == "ACCEPTED"

    # A form without the CSRF token, on the console's own page, is refused.
    page.goto(f"{base}/console/infractions")
    page.evaluate(
        """(action) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            document.body.appendChild(form);
            form.submit();
        }""",
        f"/console/infractions/{to_forge}/accept",
    )
    expect(page.locator(".error")).to_have_text(
        "This form has expired or did not come from the console."
    )
    # Another site's form arrives without the cookie (SameSite=Strict): not signed in.
    attacker = Attacker(f"{base}/console/infractions/{to_forge}/accept")
    try:
        page.goto(attacker.url)
        seen.remove(attacker.url)
        expect(page.locator(".error")).to_have_text("You are not signed in.")
    finally:
        attacker.close()
    assert m.get(f"/infractions/{to_forge}").json()["status"] == "OPEN"

    page.goto(f"{base}/console/audit")
    expect(page.locator("table.audit")).to_contain_text("infraction.accept")
    expect(page.locator("table.audit")).to_contain_text(email)
    shoot(page, "audit")

    # A browser with no session is sent to the login form, and its POST refused.
    stranger = browser.new_context()
    other = stranger.new_page()
    other.goto(f"{base}/console/")
    expect(other.locator("h1")).to_have_text("Operator login")
    posted = stranger.request.post(
        f"{base}/console/infractions/{to_forge}/accept", form={"csrf": "x"}
    )
    assert posted.status == 401
    stranger.close()

    page.click("text=Log out")
    expect(page.locator("h1")).to_have_text("Operator login")
    page.goto(f"{base}/console/")
    expect(page.locator("h1")).to_have_text("Operator login")
    context.close()
    m.close()
    others = [url for url in seen if not url.startswith(base)]
    assert others == [], others  # everything came from the server itself


def test_an_operator_finds_a_cash_out_and_retries_its_failed_webhook_in_chromium(
    settling_server: RunningServer, browser: Browser
) -> None:
    base = settling_server.base_url
    m = new_merchant(settling_server, fund=100_00)
    with receiver() as hook:
        code, delivery_id = failed_delivery(settling_server, m, hook)  # answered 500, 8 times
        e2e = m.get(f"/cash-out/{code}").json()["endToEndId"]
        email = new_operator(settling_server)
        context = browser.new_context(viewport={"width": 1360, "height": 900})

        # The API client's Bearer token (and application token) opens no console page.
        bearer = context.request.get(
            f"{base}/console/cash-outs", headers=m.headers(), max_redirects=0
        )
        assert bearer.status == 303
        assert bearer.headers["location"].startswith("/console/login?next=")
        refused = context.request.post(
            f"{base}/console/webhooks/{delivery_id}/retry", headers=m.headers(), form={"csrf": "x"}
        )
        assert refused.status == 401

        page = context.new_page()
        seen: list[str] = []
        page.on("request", lambda request: seen.append(request.url))
        page.goto(f"{base}/console/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Today, ")

        page.click("nav >> text=Cash-outs")
        page.fill("input[name=endToEndId]", e2e)
        page.click("form.search button[type=submit]")
        found = page.locator("#cash-outs tbody tr")
        expect(found).to_have_count(1)
        expect(found).to_contain_text(code)
        expect(found).to_contain_text("R$ 10,00")
        expect(found).to_contain_text("-03:00")
        shoot(page, "cash-outs")
        found.locator(f"text={code}").click()
        expect(page.locator("h1")).to_contain_text(code)
        expect(page.locator("#transfers")).to_contain_text("cash_out")
        expect(page.locator("#transfers")).to_contain_text("post_pending")
        expect(page.locator("#rail")).to_contain_text("SETTLED")
        attempts = page.locator(f"#delivery-{delivery_id} ol.attempts li")
        expect(attempts).to_have_count(8)
        expect(attempts.first).to_contain_text("500")
        expect(page.locator("#timeline")).to_contain_text("CASHOUT_COMPLETED: 500")
        shoot(page, "cash-out")

        page.click("nav >> text=Webhooks")
        row = page.locator(f"#delivery-{delivery_id}")
        expect(row).to_contain_text("500")
        expect(row).to_contain_text(hook.url)
        shoot(page, "webhooks")
        row.locator("button.retry").click()
        expect(page.locator(".notice")).to_contain_text(delivery_id)
        hook.wait_for(9)  # the worker sent it again; the receiver answered 200
    assert deliveries(m, "succeeded")[0]["id"] == delivery_id
    page.goto(f"{base}/console/webhooks")
    expect(page.locator(f"#delivery-{delivery_id}")).to_have_count(0)
    page.goto(f"{base}/console/audit")
    expect(page.locator("table.audit")).to_contain_text("webhook.retry")
    expect(page.locator("table.audit")).to_contain_text(delivery_id)
    context.close()
    m.close()
    others = [url for url in seen if not url.startswith(base)]
    assert others == [], others
