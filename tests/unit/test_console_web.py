"""The console's small rules: where a login may send the browser next (never to another
site), and how times and percentages are written for Brazil."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectpsp.console.access import _next
from connectpsp.console.web import _bps, _shown, local_time


@pytest.mark.parametrize(
    ("asked", "goes"),
    [
        ("/console/clients", "/console/clients"),
        ("/console/infractions?status=ALL", "/console/infractions?status=ALL"),
        (None, "/console/"),
        ("", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("https://evil.example/console/", "/console/"),
        ("/console//evil.example", "/console/"),
        ("/console/\\evil.example", "/console/"),
        ("/docs", "/console/"),
        ("/consolex", "/console/"),
    ],
)
def test_a_login_goes_on_only_to_a_console_page(asked: str | None, goes: str) -> None:
    assert _next(asked) == goes


def test_times_are_in_sao_paulo_and_percentages_in_brazilian_style() -> None:
    assert local_time(datetime(2026, 12, 5, 17, 3, 22, tzinfo=UTC)) == "05/12/2026 14:03:22 -03:00"
    assert local_time(None) == "—"
    assert [_bps(b) for b in (0, 1, 150, 10_000)] == ["0,00%", "0,01%", "1,50%", "100,00%"]
    assert [_shown(v) for v in (None, True, False, 800, "OPEN")] == [
        "—",
        "yes",
        "no",
        "800",
        "OPEN",
    ]
