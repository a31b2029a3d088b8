"""Where the console sends a browser after a retry: back to the cash-out or cash-in page
the form came from, and never to another site or page."""

from __future__ import annotations

import pytest

from connectpsp.console.webhooks import back_to

PAGE = "/console/cash-outs/3f2c9a10-5b7e-4c1d-9e8f-0a1b2c3d4e5f"


def test_a_retry_asked_on_a_cash_outs_page_goes_back_to_it() -> None:
    assert back_to({"back": PAGE}) == PAGE


def test_a_retry_asked_on_a_cash_ins_page_goes_back_to_it() -> None:
    page = "/console/cash-ins/E60701190202612051300abcdefghijk"
    assert back_to({"back": page}) == page


@pytest.mark.parametrize(
    "back",
    [
        "",
        "https://evil.example/",
        "//evil.example/",
        "/console/",
        "/console/cash-outs/",
        "/console/cash-ins/",
        "/console/cash-ins/E1/../../logout",
        "/console/refunds/x",
        f"{PAGE}/../../logout",
        f"{PAGE}?x=1",
        f"{PAGE}#x",
        "/console/cash-outs/%2e%2e",
        "/console/cash-outs/" + "a" * 65,
        "/console/cash-outs/\uff41\uff42",  # fullwidth letters: alphanumeric, not ASCII
    ],
)
def test_anything_else_is_not_followed(back: str) -> None:
    assert back_to({"back": back}) is None
    assert back_to({}) is None
