"""The console's forms for webhook replays and sandbox actions, parsed at the edge: a
replay's window in São Paulo's time (a time, or a whole day), an amount in reais as the
API takes it (never rounded), and where a Send again goes back to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectpsp.console.replay import parse_window
from connectpsp.console.sandbox import parse_amount_field
from connectpsp.console.webhooks import back_to
from connectpsp.domain.errors import FieldError, ValidationFailed


def test_a_window_of_times_is_read_in_sao_paulo() -> None:
    since, until = parse_window({"from": "2026-12-05T14:00", "to": "2026-12-05T15:30:20"})
    assert since == datetime(2026, 12, 5, 17, 0, tzinfo=UTC)
    assert until == datetime(2026, 12, 5, 18, 30, 20, tzinfo=UTC)


def test_days_are_whole_from_the_start_of_from_to_the_end_of_to() -> None:
    since, until = parse_window({"from": "2026-12-05", "to": "2026-12-06"})
    assert since == datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # São Paulo's midnight
    assert until == datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # the 6th, whole
    one_day = parse_window({"from": "2026-12-05", "to": "2026-12-05"})
    assert one_day == (since, datetime(2026, 12, 6, 3, 0, tzinfo=UTC))


def _fields(form: dict[str, str]) -> list[str]:
    with pytest.raises(ValidationFailed) as refused:
        parse_window(form)
    for e in refused.value.errors:
        assert e.field in refused.value.message
    return [e.field for e in refused.value.errors]


@pytest.mark.parametrize(
    ("form", "fields"),
    [
        ({}, ["from", "to"]),
        ({"from": "2026-12-05", "to": ""}, ["to"]),
        ({"from": "05/12/2026", "to": "2026-12-06"}, ["from"]),
        ({"from": "2026-02-30", "to": "2026-03-02"}, ["from"]),  # no such day
        ({"from": "2026-12-05T25:00", "to": "2026-12-06"}, ["from"]),
        ({"from": "2026-12-05T14:00-03:00", "to": "2026-12-06"}, ["from"]),  # no offsets
        ({"from": "2026-12-05T14:00", "to": "2026-12-05T14:00"}, ["to"]),  # empty window
        ({"from": "2026-12-06", "to": "2026-12-05"}, ["to"]),
        ({"from": "2026-12-05" + "0" * 100, "to": "2026-12-06"}, ["from"]),
    ],
)
def test_a_bad_window_is_refused_naming_its_field(form: dict[str, str], fields: list[str]) -> None:
    assert _fields(form) == fields


@pytest.mark.parametrize(
    ("text", "centavos"), [("10.00", 1000), ("10", 1000), ("0.01", 1), ("1500.5", 150050)]
)
def test_amounts_are_reais_with_a_dot(text: str, centavos: int) -> None:
    errors: list[FieldError] = []
    assert parse_amount_field(text, errors) == centavos and not errors


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("50.005", "at most 2 decimal places"),  # refused, never rounded
        ("10,00", "such as 50.00"),
        ("1.500,00", "such as 50.00"),
        ("-1.00", "such as 50.00"),
        ("0.00", "greater than 0"),
        ("", "is required"),
    ],
)
def test_a_bad_amount_is_refused_naming_its_field(text: str, why: str) -> None:
    errors: list[FieldError] = []
    assert parse_amount_field(text, errors, "amount") is None
    [error] = errors
    assert error.field == "amount" and why in error.message


def test_an_optional_amount_may_be_left_out() -> None:
    errors: list[FieldError] = []
    assert parse_amount_field("  ", errors, optional=True) is None and not errors


CLIENT = "3f2c9a10-5b7e-4c1d-9e8f-0a1b2c3d4e5f"


def test_send_again_goes_back_to_the_clients_deliveries() -> None:
    page = f"/console/webhooks/endpoints?client={CLIENT}"
    assert back_to({"back": page}) == page


@pytest.mark.parametrize(
    "back",
    [
        "/console/webhooks/endpoints?client=",
        f"/console/webhooks/endpoints?client={CLIENT}&next=https://evil.example",
        "/console/webhooks/endpoints?client=%2e%2e",
        "/console/webhooks/endpoints?client=" + "a" * 65,
        f"https://evil.example/console/webhooks/endpoints?client={CLIENT}",
    ],
)
def test_send_again_never_goes_elsewhere(back: str) -> None:
    assert back_to({"back": back}) is None
