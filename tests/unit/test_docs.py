"""The error reference names every code the API can answer with."""

from __future__ import annotations

import re
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
    # Internal codes (LEDGER_VIOLATION) never reach a client; ILLEGAL_TRANSITION does,
    # since a client may cancel a charge that is no longer ACTIVE (409).
    for error in (errors.LedgerViolation("x"), errors.ConnectPSPError("x")):
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
    unknown = failure_for("XX99")  # a code outside the catalogue
    assert f"| (any other code) | `{unknown.code}` | {unknown.message} |" in table


def sandbox_rows() -> dict[tuple[str, str], list[tuple[str, str, str, str]]]:
    """The magic-value tables of docs/sandbox.md: (destination, value) -> each row's
    (payee.document, status, failure.code, SPI reason)."""
    rows: dict[tuple[str, str], list[tuple[str, str, str, str]]] = {}
    for line in (DOCS / "sandbox.md").read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[3] in ("COMPLETED", "FAILED"):
            rows.setdefault((cells[0], cells[1]), []).append(
                (cells[2], cells[3], cells[4], cells[5])
            )
    return rows


def test_every_magic_account_and_demo_key_is_in_the_sandbox_table() -> None:
    from connectpsp.adapters.rails.simulated import (
        DEMO_KEYS,
        LOST_RESPONSE_ACCOUNT,
        MAGIC_ACCOUNTS,
    )
    from connectpsp.domain.spi import failure_for

    rows = sandbox_rows()
    for account, reason in MAGIC_ACCOUNTS.items():
        assert ("12345678909", "FAILED", failure_for(reason).code, reason.value) in rows.get(
            ("BANK_ACCOUNT", account), []
        ), account
    assert ("BANK_ACCOUNT", LOST_RESPONSE_ACCOUNT) in rows
    for entry in DEMO_KEYS:
        found = rows.get((f"PIX {entry.key_type.value}", entry.key))
        assert found, entry.key
        if entry.reject_with is None:
            continue
        outcome = ("FAILED", failure_for(entry.reject_with).code, entry.reject_with.value)
        assert (entry.owner.document, *outcome) in found, entry.key
        # SPI rejects any payment to the key's account: a bank-account cash-out too.
        assert (entry.owner.document, *outcome) in rows.get(
            ("BANK_ACCOUNT", entry.owner.account), []
        ), entry.owner.account


def refund_payer_rows() -> dict[str, tuple[str, str, str]]:
    """The magic refund payers of docs/sandbox.md: payer.document -> (the refund's status,
    failure.code, SPI reason)."""
    rows = {}
    for line in (DOCS / "sandbox.md").read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        status = re.match(r"(COMPLETED|FAILED)\b", cells[1]) if len(cells) == 4 else None
        if status is not None:
            rows[cells[0]] = (status.group(1), cells[2], cells[3])
    return rows


def test_every_magic_refund_payer_is_in_the_sandbox_table() -> None:
    from connectpsp.adapters.rails.simulated_returns import (
        LOST_REFUND_ANSWER_PAYER,
        MAGIC_REFUND_PAYERS,
    )
    from connectpsp.domain.spi import failure_for

    rows = refund_payer_rows()
    expected = {
        document: ("FAILED", failure_for(reason).code, reason.value)
        for document, reason in MAGIC_REFUND_PAYERS.items()
    }
    expected[LOST_REFUND_ANSWER_PAYER] = ("COMPLETED", "", "")
    expected["any other"] = ("COMPLETED", "", "")
    assert rows == expected


def fraud_marker_rows() -> set[tuple[str, str, str, str]]:
    """The marked keys and documents of docs/sandbox.md: (marked, value, marker, owner)."""
    rows = set()
    for line in (DOCS / "sandbox.md").read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and (cells[0].startswith("key ") or cells[0] == "document"):
            rows.add((cells[0], cells[1], cells[2], cells[3]))
    return rows


def test_every_magic_fraud_marker_is_in_the_sandbox_table() -> None:
    from connectpsp.adapters.rails.simulated_security import DEMO_MARKERS, MARKED_KEYS

    on_key = {m.key: m.type.value for m in DEMO_MARKERS if m.key is not None}
    expected = {
        (f"key {k.key_type.value}", k.key, on_key.get(k.key, "(its owner's)"), k.owner.document)
        for k in MARKED_KEYS
    }
    expected |= {("document", m.document, m.type.value, "") for m in DEMO_MARKERS if m.document}
    assert set(on_key) <= {k.key for k in MARKED_KEYS}  # every marked key is registered
    assert fraud_marker_rows() == expected
