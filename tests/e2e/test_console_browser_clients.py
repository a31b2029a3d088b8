"""An operator creates a client in a real browser (headless Chromium, as in
test_console_browser.py, offline but for the loopback server): a bad form is shown
again naming its field, the credentials are shown once and work for POST /auth/token,
and no page after shows them. The screenshot is of the client's page, never of a page
with a secret on it."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect
from playwright.sync_api import Error as PlaywrightError

from tests.e2e.test_console import new_operator
from tests.e2e.test_console_browser import browser, shoot, signed_in_page
from tests.logscan import remember_secret
from tests.support import RunningServer

__all__ = ["browser"]  # the fixture, imported for pytest


def test_an_operator_creates_a_client_and_reads_its_secret_once_in_chromium(
    server: RunningServer, browser: Browser
) -> None:
    base = server.base_url
    email = new_operator(server)
    context, page, seen = signed_in_page(browser, base, email)
    page.click("nav >> text=Clients")
    page.click("text=New client")

    page.fill("input[name=name]", "Padaria Pão Quente")
    page.fill("input[name=document]", "11144477735")
    page.fill("input[name=fee_fixed]", "0.505")  # more places than a centavo: refused
    page.fill("input[name=daily_limit]", "20000.00")
    create = "main form button[type=submit]"  # not the header's Log out
    page.click(create)
    expect(page.locator("#e-fee_fixed")).to_have_text("must have at most 2 decimal places")
    expect(page.locator("input[name=daily_limit]")).to_have_value("20000.00")  # kept
    page.fill("input[name=fee_fixed]", "0.50")
    page.click(create)

    expect(page.locator("h1")).to_have_text("Client created")
    client_id = page.locator("#clientId").inner_text()
    secret = page.locator("#clientSecret").inner_text()
    others = [page.locator(f"#{k}").inner_text() for k in ("cryptoToken", "applicationToken")]
    remember_secret(secret, *others, page.locator("#webhookSecret").inner_text())
    token = httpx.post(f"{base}/auth/token", json={"clientId": client_id, "clientSecret": secret})
    assert token.status_code == 200, token.text
    remember_secret(token.json()["accessToken"])

    page.click("text=Open the client's page")
    expect(page.locator("h1")).to_contain_text("Padaria Pão Quente")
    expect(page.locator("main")).to_contain_text("R$ 0,50 + 0,00%")
    expect(page.locator("main")).to_contain_text("R$ 20.000,00")
    shoot(page, "client")
    # Back: the answer to the form was not kept (no-store), so Chromium would have to
    # send the form again (which the console refuses: the client exists already).
    with pytest.raises(PlaywrightError, match="ERR_CACHE_MISS"):
        page.go_back()
    later = context.new_page()  # the first one is on Chromium's own error page now
    later.on("request", lambda request: seen.append(request.url))
    for path in (f"/console/clients/{client_id}", "/console/clients", "/console/audit"):
        later.goto(f"{base}{path}")
        text = later.content()
        assert secret not in text and all(o not in text for o in others), path
    expect(later.locator("table.audit")).to_contain_text("client.create")
    context.close()
    assert [url for url in seen if not url.startswith(base)] == []
