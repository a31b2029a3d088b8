"""Accepted cash-outs reach COMPLETED or FAILED through the simulated Pix network, end to
end through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from connectpsp.adapters.storage import schema as t
from connectpsp.domain.ledger import PSP_FEES, PSP_SETTLEMENT, FeePlan
from connectpsp.service.settlement import rail_key
from tests.support import RunningServer, cash_out_body, new_merchant, wait_terminal

E2E = re.compile(r"^E00416968(\d{12})[A-Za-z0-9]{11}$")
DOCS = Path(__file__).parents[2] / "docs"


@dataclass(frozen=True)
class MagicRow:
    destination: str
    value: str
    document: str
    status: str
    failure: str | None
    reason: str | None


def magic_rows() -> list[MagicRow]:
    """Every row of the magic-value table in docs/sandbox.md."""
    rows = []
    for line in (DOCS / "sandbox.md").read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[3] in ("COMPLETED", "FAILED"):
            rows.append(
                MagicRow(cells[0], cells[1], cells[2], cells[3], cells[4] or None, cells[5] or None)
            )
    return rows


def destination_for(row: MagicRow) -> dict[str, Any]:
    if row.destination == "BANK_ACCOUNT":
        return {
            "type": "BANK_ACCOUNT",
            "bankAccount": {
                "ispb": "18236120",
                "branch": "0001",
                "account": row.value,
                "accountType": "CHECKING",
            },
        }
    return {"type": "PIX", "pixKeyType": row.destination.split()[1], "pixKey": row.value}


def test_the_seed_options_complete(settling_server: RunningServer) -> None:
    m = new_merchant(settling_server, fund=1_000_00)
    bank = {
        "type": "BANK_ACCOUNT",
        "bankAccount": {
            "ispb": "18236120",
            "branch": "0001",
            "account": "947710840",
            "accountType": "PAYMENT",
        },
    }
    for destination in (None, bank):
        accepted = m.cash_out(destination=destination, amount=50.00)
        assert accepted.status_code == 202
        done = wait_terminal(m, accepted.json()["internalCode"])
        assert done["status"] == "COMPLETED", done
        match = E2E.match(done["endToEndId"])
        assert match, done["endToEndId"]
        # The payment order's moment, in UTC (requestedAt is in Sao Paulo time).
        requested = datetime.fromisoformat(done["requestedAt"])
        assert match.group(1) == f"{requested.astimezone(UTC):%Y%m%d%H%M}"
        assert requested.utcoffset() != timedelta(0)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[23]:00", done["paidAt"])
        assert done["failure"] is None
    assert m.balance() == {"available": 900.00, "reserved": 0.00, "blocked": 0.00, "total": 900.00}


def test_every_magic_value_in_the_docs(settling_server: RunningServer) -> None:
    rows = magic_rows()
    assert len(rows) >= 36
    assert {r.failure for r in rows if r.failure} >= {
        "PIX_KEY_NOT_FOUND",
        "INVALID_ACCOUNT",
        "ACCOUNT_BLOCKED",
        "ACCOUNT_CLOSED",
        "INVALID_ACCOUNT_TYPE",
        "AMOUNT_LIMIT_EXCEEDED",
        "DOCUMENT_MISMATCH",
        "SETTLEMENT_TIMEOUT",
        "RECEIVER_ERROR",
        "REJECTED_BY_RECEIVER",
        "SANCTIONED_PARTY",
        "PAYMENT_FAILED",
    }
    m = new_merchant(settling_server, fund=10_000_00, fee=FeePlan(fixed=25))
    accepted = []
    for row in rows:  # all at once: they settle side by side
        body = cash_out_body(amount="40.00", destination=destination_for(row))
        body["payee"]["document"] = row.document
        reply = m.cash_out(body)
        assert reply.status_code == 202, (row, reply.text)
        accepted.append(reply.json()["internalCode"])
    completed = 0
    for row, code in zip(rows, accepted, strict=True):
        done = wait_terminal(m, code)
        assert done["status"] == row.status, (row, done)
        if row.status == "FAILED":
            assert done["failure"]["code"] == row.failure, (row, done)
            assert done["failure"]["message"]
            assert done["endToEndId"] is None
        else:
            assert E2E.match(done["endToEndId"])
            completed += 1
        with settling_server.container.db.transaction(write=False) as tx:
            stored = tx.conn.execute(
                select(t.cash_outs.c.spi_reason_code).where(t.cash_outs.c.internal_code == code)
            ).scalar_one()
        assert stored == row.reason, row
    # Completed ones cost amount + fee; failed ones were voided and cost nothing.
    left = 10_000_00 - completed * 40_25
    assert m.balance() == {
        "available": left / 100,
        "reserved": 0.00,
        "blocked": 0.00,
        "total": left / 100,
    }
    m.close()


def test_completion_posts_amount_to_settlement_and_fee_to_fees(
    settling_server: RunningServer,
) -> None:
    container = settling_server.container

    def summed(code: str) -> int:
        with container.uow() as uow:
            b = uow.ledger.summed_balance(code)
        return b.credits_posted

    settlement_before, fees_before = summed(PSP_SETTLEMENT), summed(PSP_FEES)
    m = new_merchant(settling_server, fund=100_00, fee=FeePlan(fixed=50, bps=100))
    done = wait_terminal(m, m.cash_out(amount="20.00").json()["internalCode"])
    assert done["status"] == "COMPLETED"
    assert (done["amount"], done["feeAmount"], done["finalAmount"]) == (20.00, 0.70, 20.70)
    assert m.balance() == {"available": 79.30, "reserved": 0.00, "blocked": 0.00, "total": 79.30}
    assert summed(PSP_SETTLEMENT) - settlement_before >= 20_00
    assert summed(PSP_FEES) - fees_before >= 70


def test_failure_gives_back_the_daily_limit(settling_server: RunningServer) -> None:
    m = new_merchant(settling_server, fund=1_000_00, daily_limit=100_00)
    blocked = {"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "ac06@sandbox.connectpsp.dev"}
    failed = wait_terminal(
        m, m.cash_out(amount="100.00", destination=blocked).json()["internalCode"]
    )
    assert failed["failure"]["code"] == "ACCOUNT_BLOCKED"
    again = m.cash_out(amount="100.00")
    assert again.status_code == 202, again.text
    assert wait_terminal(m, again.json()["internalCode"])["status"] == "COMPLETED"
    refused = m.cash_out(amount="0.01")
    assert refused.json()["error"]["code"] == "LIMIT_EXCEEDED"


def test_a_lost_rail_answer_is_reconciled_not_failed(settling_server: RunningServer) -> None:
    m = new_merchant(settling_server, fund=100_00)
    lost = {
        "type": "BANK_ACCOUNT",
        "bankAccount": {
            "ispb": "18236120",
            "branch": "0001",
            "account": "9999",
            "accountType": "CHECKING",
        },
    }
    accepted = m.cash_out(destination=lost).json()
    done = wait_terminal(m, accepted["internalCode"])
    assert done["status"] == "COMPLETED"
    with settling_server.container.db.transaction(write=False) as tx:
        p = t.sandbox_spi_payments.c
        asked = tx.conn.execute(
            select(p.submit_count, p.end_to_end_id).where(
                p.idempotency_key == rail_key(accepted["transactionId"])
            )
        ).one()
    assert asked.submit_count == 1  # asked once, then asked *about* it
    assert asked.end_to_end_id == done["endToEndId"]


def test_registering_sandbox_dict_keys(settling_server: RunningServer) -> None:
    m = new_merchant(settling_server, fund=100_00)
    key: dict[str, Any] = {
        "keyType": "EMAIL",
        "key": "joao.souza@example.com",
        "owner": {"name": "João Souza", "document": "52998224725"},
        "account": {
            "ispb": "18236120",
            "branch": "0001",
            "account": "12345",
            "accountType": "CHECKING",
        },
        "rejectWith": "AC06",
    }
    created = m.http.post("/sandbox/dict/keys", json=key, headers=m.headers(sign=False))
    assert created.status_code == 201, created.text
    assert created.json() == key
    again = m.http.post("/sandbox/dict/keys", json=key, headers=m.headers(sign=False))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "PIX_KEY_ALREADY_REGISTERED"
    bad = m.http.post(
        "/sandbox/dict/keys",
        headers=m.headers(sign=False),
        json={
            **key,
            "key": "Not An Email",
            "rejectWith": "ZZ99",
            "account": {**key["account"], "ispb": "00000009"},
        },
    )
    assert bad.status_code == 400
    assert {d["field"] for d in bad.json()["error"]["details"]} == {
        "key",
        "rejectWith",
        "account.ispb",
    }
    unauthenticated = m.http.post("/sandbox/dict/keys", json=key)
    assert unauthenticated.status_code == 401

    body = cash_out_body(
        destination={"type": "PIX", "pixKeyType": "EMAIL", "pixKey": "joao.souza@example.com"}
    )
    body["payee"]["document"] = "52998224725"
    done = wait_terminal(m, m.cash_out(body).json()["internalCode"])
    assert done["failure"]["code"] == "ACCOUNT_BLOCKED"

    plain = {
        **key,
        "key": "+5521988887777",
        "keyType": "PHONE",
        "account": {**key["account"], "account": "54321"},
    }
    del plain["rejectWith"]
    assert (
        m.http.post("/sandbox/dict/keys", json=plain, headers=m.headers(sign=False)).status_code
        == 201
    )
    body["payee"]["destination"] = {
        "type": "PIX",
        "pixKeyType": "PHONE",
        "pixKey": "+5521988887777",
    }
    body["externalReference"] = "phone-key-1"
    assert wait_terminal(m, m.cash_out(body).json()["internalCode"])["status"] == "COMPLETED"


def test_a_cpf_or_cnpj_key_must_be_its_owners_document(settling_server: RunningServer) -> None:
    """BCB: a CPF or CNPJ key is the owner's own document."""
    m = new_merchant(settling_server, fund=100_00)
    account = {"ispb": "18236120", "branch": "0001", "account": "77001", "accountType": "CHECKING"}
    for key_type, key, other in (
        ("CPF", "52998224725", "12345678909"),
        ("CNPJ", "11444777000161", "11222333000181"),
    ):
        wrong = {
            "keyType": key_type,
            "key": key,
            "owner": {"name": "Someone Else", "document": other},
            "account": account,
        }
        reply = m.http.post("/sandbox/dict/keys", json=wrong, headers=m.headers(sign=False))
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert [d["field"] for d in error["details"]] == ["owner.document"]
        right = {**wrong, "owner": {"name": "The Owner", "document": key}}
        reply = m.http.post("/sandbox/dict/keys", json=right, headers=m.headers(sign=False))
        assert reply.status_code == 201, reply.text
    m.close()
