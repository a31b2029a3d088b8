"""Cash-in from the shell, in subprocesses, on SQLite and PostgreSQL: ``clients create``
with a merchant city, a document and a cash-in fee plan, and ``sandbox pay`` paying a
BR Code or a key against the database, as ``POST /sandbox/pix/pay`` does."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from connectpsp import brcode
from connectpsp.domain.clients import ClientCredentials
from connectpsp.domain.ledger import FeePlan
from tests.e2e.test_cli import assert_one_line_error, cli, env  # noqa: F401 - the fixture
from tests.support import Api, RunningServer

DOCUMENT = "11144477735"
OTHER_DOCUMENT = "87654321007"  # a CPF key is registered once per database


def merchant(env: dict[str, str], server: RunningServer, *options: str) -> Api:  # noqa: F811
    created = json.loads(cli(env, "clients", "create", *options, "--json").stdout)
    credentials = ClientCredentials(
        created["clientId"],
        created["clientSecret"],
        created["cryptoToken"],
        created["applicationToken"],
        created["webhookSecret"],
    )
    return Api(server, credentials)


def charge(m: Api, **fields: Any) -> dict[str, Any]:
    reply = m.http.post("/cash-in", json=fields, headers=m.headers())
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def read(m: Api, internal_code: str) -> dict[str, Any]:
    reply = m.get(f"/cash-in/{internal_code}")
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def available(m: Api) -> Decimal:
    return Decimal(str(m.balance()["available"]))


def test_clients_create_sets_the_city_document_and_cash_in_fees(
    env: dict[str, str],  # noqa: F811 - the fixture
    server: RunningServer,
) -> None:
    m = merchant(
        env,
        server,
        "--name",
        "Padaria Pão Doce",
        "--city",
        "CAMPINAS",
        "--document",
        DOCUMENT,
        "--cash-in-fee-fixed",
        "0.20",
        "--cash-in-fee-bps",
        "100",
    )
    try:
        stored = server.container.clients.get(m.creds.client_id)
        assert (stored.merchant_city, stored.document) == ("CAMPINAS", DOCUMENT)
        assert stored.cash_in_fee_plan == FeePlan(fixed=20, bps=100)
        code = brcode.decode(charge(m, type="STATIC", externalReference="city")["brCode"])
        assert (code.merchant_name, code.merchant_city) == ("Padaria Pao Doce", "CAMPINAS")
        own = m.http.post("/pix-keys", json={"type": "CPF", "key": DOCUMENT}, headers=m.headers())
        assert own.status_code == 201, own.text  # its own document, and only it
        before = available(m)
        reply = m.http.post(
            "/sandbox/pix/pay", json={"pixKey": DOCUMENT, "amount": "10.00"}, headers=m.headers()
        )
        assert reply.status_code == 201, reply.text
        assert available(m) - before == Decimal("9.70")  # 10.00 - (0.20 + 0.10)
    finally:
        m.close()


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--city", "A" * 16], "--city must be 1 to 15 characters"),
        (["--document", "11144477736"], "--document is not a valid CPF"),
        (["--cash-in-fee-bps", "10001"], "--cash-in-fee-bps"),
        (["--cash-in-fee-fixed", "-1"], "--cash-in-fee-fixed"),
        (["--cash-in-fee-fixed", "0.001"], "--cash-in-fee-fixed"),
    ],
)
def test_bad_cash_in_client_options_are_one_line(
    env: dict[str, str],  # noqa: F811 - the fixture
    arguments: list[str],
    says: str,
) -> None:
    result = cli(env, "clients", "create", "--name", "bad", *arguments, check=False)
    assert_one_line_error(result, 2, says)


def test_sandbox_pay_pays_a_code_or_a_key_and_prints_the_end_to_end_id(
    env: dict[str, str],  # noqa: F811 - the fixture
    server: RunningServer,
) -> None:
    m = merchant(
        env,
        server,
        "--name",
        "Loja",
        "--document",
        OTHER_DOCUMENT,
        "--cash-in-fee-fixed",
        "0.20",
        "--cash-in-fee-bps",
        "100",
    )
    try:
        key = m.http.post(
            "/pix-keys", json={"type": "CPF", "key": OTHER_DOCUMENT}, headers=m.headers()
        )
        assert key.status_code == 201, key.text
        before = available(m)
        dynamic = charge(m, amount="100.00", externalReference="cli-dynamic")
        # The operator's shell runs with the server's public URL: its codes are ours.
        env = {**env, "CONNECTPSP_PUBLIC_URL": server.container.settings.public_url}
        printed = cli(env, "sandbox", "pay", dynamic["brCode"]).stdout
        e2e = printed.strip()
        assert printed == e2e + "\n" and e2e.startswith("E60701190") and len(e2e) == 32
        done = read(m, dynamic["internalCode"])
        assert done["status"] == "COMPLETED"
        (payment,) = done["payments"]
        assert (payment["endToEndId"], payment["netAmount"]) == (e2e, 98.8)
        assert available(m) - before == Decimal("98.80")

        static = charge(m, type="STATIC", externalReference="cli-static")
        out = cli(env, "sandbox", "pay", static["brCode"], "--amount", "10.00", "--json").stdout
        (paid,) = read(m, static["internalCode"])["payments"]
        assert json.loads(out) == {"endToEndId": paid["endToEndId"]}
        assert out.count("\n") == 1

        keyed = cli(
            env,
            "sandbox",
            "pay",
            "--key",
            OTHER_DOCUMENT,
            "--amount",
            "2.00",
            *payer(),
        ).stdout.strip()
        assert keyed.startswith("E18236120")  # the payer's bank made it
        # 98.80 + 9.70 + 2.00 - (0.20 + 0.02)
        assert available(m) - before == Decimal("110.28")

        old = charge(m, amount="3.00", externalReference="cli-old")
        brt = timezone(timedelta(hours=-3))
        paid_at = (datetime.now(brt) - timedelta(days=91)).replace(microsecond=0).isoformat()
        cli(env, "sandbox", "pay", old["brCode"], "--paid-at", paid_at)
        (settled,) = read(m, old["internalCode"])["payments"]
        assert settled["paidAt"] == paid_at
        refund = m.http.post(
            f"/cash-in/{old['internalCode']}/refunds", json={"amount": "1.00"}, headers=m.headers()
        )
        assert refund.status_code == 422 and refund.json()["error"]["code"] == (
            "REFUND_WINDOW_CLOSED"
        )
        # 98.80 + 9.70 + 2.00 + 3.00 - (0.20 + 0.02) - (0.20 + 0.03)
        assert available(m) - before == Decimal("113.05")

        again = cli(env, "sandbox", "pay", dynamic["brCode"], check=False)
        assert_one_line_error(again, 1, "paid already")
        unknown = cli(
            env, "sandbox", "pay", "--key", "nobody@example.com", "--amount", "1.00", check=False
        )
        assert_one_line_error(unknown, 1, "No such Pix key at this PSP")
        missing = cli(env, "sandbox", "pay", static["brCode"], check=False)
        assert_one_line_error(missing, 2, "--amount is required")
        assert available(m) - before == Decimal("113.05")  # the refusals moved nothing
    finally:
        m.close()


def payer(
    name: str = "Ana Costa", document: str = "52998224725", ispb: str = "18236120"
) -> list[str]:
    return ["--payer-name", name, "--payer-document", document, "--payer-ispb", ispb]


def tampered(code: str) -> str:
    """``code`` with its merchant name's first letter changed and the CRC left as it was."""
    at = code.index("5802BR59") + len("5802BR59") + 2  # past the name's length
    return code[:at] + ("X" if code[at] != "X" else "Y") + code[at + 1 :]


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ([], "give a BRCODE to pay, or --key with --amount"),
        (["CODE", "--key", DOCUMENT], "and not both"),
        (["--key", DOCUMENT], "--amount is required with --key"),
        (["--key", DOCUMENT, "--amount", "1.001"], "--amount must have at most 2 decimal"),
        (["TAMPERED"], "BRCODE: Invalid BR Code: field 63 (CRC)"),
        (["CODE", "--payer-name", "Ana"], "go together"),
        (["CODE", *payer(document="123")], "--payer-document must be a CPF"),
        (["CODE", *payer(ispb="99999999")], "--payer-ispb is not the ISPB of a known Pix"),
        (["CODE", *payer(name="A\u202eB")], "--payer-name must not contain control characters"),
        (["CODE", *payer(name=" ")], "--payer-name must be 1 to 120 characters"),
        (["CODE", "--paid-at", "2026-09-04T23:40:50"], "--paid-at must be a time with its offset"),
        (["CODE", "--paid-at", "yesterday"], "--paid-at must be a time with its offset"),
        (["CODE", "--paid-at", "2999-01-01T00:00:00Z"], "--paid-at must not be in the future"),
    ],
)
def test_bad_sandbox_pay_arguments_are_one_line_and_pay_nothing(
    env: dict[str, str],  # noqa: F811 - the fixture
    server: RunningServer,
    arguments: list[str],
    says: str,
) -> None:
    m = merchant(env, server, "--name", "Loja")
    try:
        code = charge(m, type="STATIC", amount="1.00", externalReference="cli-bad")["brCode"]
        given = [{"CODE": code, "TAMPERED": tampered(code)}.get(a, a) for a in arguments]
        result = cli(env, "sandbox", "pay", *given, check=False)
        assert_one_line_error(result, 2, says)
        assert available(m) == 0
    finally:
        m.close()


def test_sandbox_pay_is_refused_in_production(env: dict[str, str]) -> None:  # noqa: F811
    prod = {
        **env,
        "CONNECTPSP_ENV": "production",
        "CONNECTPSP_RAIL": "simulated",
        "CONNECTPSP_MASTER_KEY": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
    }
    result = cli(prod, "sandbox", "pay", "--key", DOCUMENT, "--amount", "1.00", check=False)
    assert_one_line_error(result, 2, "sandbox mode only")
