"""The error reference names every code the API can answer with."""

from __future__ import annotations

from pathlib import Path

from connectpsp.api.errors import HTTP_CODES, HTTP_FALLBACK, STATUS, render_error
from connectpsp.domain import errors

DOCS = Path(__file__).parents[2] / "docs"


def test_every_error_code_is_documented_with_its_status() -> None:
    table = (DOCS / "errors.md").read_text()
    for error, status in STATUS.items():
        assert f"| `{error.code}` | {status} |" in table, error.code
    for status, code in HTTP_CODES.items():
        assert f"| `{code}` | {status} |" in table, code
    assert f"| `{HTTP_FALLBACK}` | " in table
    assert "| `INTERNAL_ERROR` | 500 |" in table


def test_an_error_without_a_status_is_answered_as_internal_error() -> None:
    # Internal codes (ILLEGAL_TRANSITION, LEDGER_VIOLATION) never reach a client.
    for error in (errors.IllegalTransition("PROCESSING -> X"), errors.LedgerViolation("x")):
        status, body = render_error(error)
        assert status == 500
        assert body == (
            b'{"error":{"code":"INTERNAL_ERROR","message":"An unexpected error occurred.",'
            b'"details":null}}'
        )


def test_every_spi_reason_is_documented_with_its_failure() -> None:
    from connectpsp.domain.spi import PIX_KEY_NOT_FOUND, ReasonCode, failure_for

    table = (DOCS / "errors.md").read_text()
    for reason in ReasonCode:
        failure = failure_for(reason)
        assert f"| {reason.value} | `{failure.code}` | {failure.message} |" in table
    assert f"| `{PIX_KEY_NOT_FOUND.code}` | {PIX_KEY_NOT_FOUND.message} |" in table
