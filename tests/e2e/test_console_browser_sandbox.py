"""The console's sandbox page in a real browser (Debian's headless Chromium through
Playwright, every other host behind a dead proxy, as test_console_browser.py sets up):
an operator funds a client, is told which field is wrong when an amount has three
decimal places, and pays the client's BR Code as another bank's customer; the API then
reads both in the client's balance.

With CONNECTPSP_SCREENSHOTS=docs/img the test also writes docs/console.md's screenshot."""

from __future__ import annotations

import uuid
from decimal import Decimal

from playwright.sync_api import Browser, expect

from tests.e2e.test_console import new_operator
from tests.e2e.test_console_browser import (  # noqa: F401 - the fixture
    browser,
    shoot,
    signed_in_page,
)
from tests.e2e.test_med import merchant
from tests.support import RunningServer


def test_an_operator_funds_a_client_and_pays_its_br_code_in_chromium(
    settling_server: RunningServer,
    browser: Browser,  # noqa: F811 - the fixture
) -> None:
    base = settling_server.base_url
    m = merchant(settling_server)  # a cash-in fee of R$ 0,20
    fields = {"amount": "42.50", "externalReference": uuid.uuid4().hex[:12]}
    code = m.http.post("/cash-in", json=fields, headers=m.headers()).json()["brCode"]
    email = new_operator(settling_server)

    context, page, seen = signed_in_page(browser, base, email)

    page.click("nav >> text=Sandbox")
    expect(page.locator("h1")).to_have_text("Sandbox")
    fund = page.locator("section#fund")
    fund.locator("select[name=client]").select_option(m.creds.client_id)
    fund.locator("input[name=amount]").fill("50.005")
    fund.locator("button[type=submit]").click()
    error = page.locator("#fund-error")
    expect(error).to_contain_text("amount")
    expect(error).to_contain_text("at most 2 decimal places")
    assert m.balance()["available"] == 0  # refused, not rounded

    fund = page.locator("section#fund")
    expect(fund.locator("input[name=amount]")).to_have_value("50.005")  # kept to correct
    fund.locator("input[name=amount]").fill("1500.00")
    fund.locator("button[type=submit]").click()
    notice = page.locator("#notice")
    expect(notice).to_contain_text("Funded")
    expect(notice).to_contain_text("R$ 1.500,00")

    page.locator("section#pay input[name=brCode]").fill(code)
    page.locator("section#pay button[type=submit]").click()
    expect(notice).to_contain_text("Paid: Pix")
    expect(notice.locator(f'a[href="/console/clients/{m.creds.client_id}"]')).to_be_visible()
    # The Pix just paid is ready to be reported.
    e2e = page.locator("section#infraction input[name=endToEndId]").input_value()
    assert e2e.startswith("E") and len(e2e) == 32
    shoot(page, "sandbox")
    assert Decimal(str(m.balance()["available"])) == Decimal("1542.30")  # 42,50 less 0,20

    page.click("nav >> text=Audit log")
    expect(page.locator("table.audit")).to_contain_text("sandbox.pay")
    expect(page.locator("table.audit")).to_contain_text("sandbox.fund")
    context.close()
    m.close()
    others = [url for url in seen if not url.startswith(base)]
    assert others == [], others  # everything came from the server itself
