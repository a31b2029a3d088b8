"""The console's cash-ins and refunds in a real browser (Debian's headless Chromium,
driven by Playwright, every other host behind a dead proxy; the fixtures are
test_console_browser.py's): an operator finds a cash-in by its endToEndId, reads its
timeline (a refund and a MED block of it among its moments), and goes from the refunds
list back to it.

With CONNECTPSP_SCREENSHOTS=docs/img the test also writes docs/console.md's screenshots
of these pages."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.e2e.test_console import new_operator
from tests.e2e.test_console_browser import browser, shoot, signed_in_page
from tests.e2e.test_console_cashins import PAYER
from tests.e2e.test_med import merchant, report
from tests.e2e.test_refunds import paid_charge, refund, wait_refund
from tests.support import RunningServer

__all__ = ["browser"]  # the fixture, shared


def test_an_operator_finds_a_cash_in_and_reads_its_timeline_in_chromium(
    settling_server: RunningServer, browser: Browser
) -> None:
    base = settling_server.base_url
    m = merchant(settling_server)
    code, e2e = paid_charge(m, "150.00", payer=PAYER)
    refund_id = refund(m, code, amount="40.00", description="produto devolvido").json()["refundId"]
    assert wait_refund(m, code, refund_id)["status"] == "COMPLETED"
    assert report(m, e2e, amount="60.00", details="golpe do falso parente").status_code == 201
    email = new_operator(settling_server)

    context, page, seen = signed_in_page(browser, base, email)

    page.click("nav >> text=Cash-ins")
    expect(page.locator("h1")).to_have_text("Cash-ins")
    page.fill("input[name=endToEndId]", e2e)
    page.click("form.search button[type=submit]")
    found = page.locator("#cash-ins tbody tr")
    expect(found).to_have_count(1)
    expect(found).to_contain_text(code)
    expect(found).to_contain_text("R$ 150,00")
    expect(found).to_contain_text("Ana Pagadora")
    expect(found).to_contain_text("BLOCKED")
    expect(found).to_contain_text("-03:00")
    shoot(page, "cash-ins")

    found.locator(f"text={e2e}").click()
    expect(page.locator("h1")).to_contain_text(e2e)
    expect(page.locator("#transfers")).to_contain_text("cash_in_fee")
    expect(page.locator("#transfers")).to_contain_text("cash_in_refund")
    expect(page.locator("#blocks")).to_contain_text("R$ 60,00")
    expect(page.locator("#infraction")).to_contain_text("golpe do falso parente")
    expect(page.locator("#refunds")).to_contain_text("produto devolvido")
    expect(page.locator("#rail")).to_contain_text("SETTLED")
    timeline = page.locator("#timeline")
    for what in ("credited", "ORIGINAL asked", "MED block", "reported"):
        expect(timeline).to_contain_text(what)
    shoot(page, "cash-in")

    page.click("nav >> text=Refunds")
    row = page.locator(f"#refund-{refund_id}")
    expect(row).to_contain_text("R$ 40,00")
    expect(row).to_contain_text("COMPLETED")
    shoot(page, "refunds")
    row.locator(f"text={e2e}").click()
    expect(page.locator("h1")).to_contain_text(e2e)
    context.close()
    m.close()
    others = [url for url in seen if not url.startswith(base)]
    assert others == [], others  # everything came from the server itself
