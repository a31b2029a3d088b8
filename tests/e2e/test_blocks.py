"""A Pix from a payer DICT marks for fraud is credited and held (issue "Fraud checks
before the 202", point 4): through the real server, on SQLite and PostgreSQL, the
balance shows it ``blocked`` and not ``available``, a cash-out cannot spend it, and it
comes back when its 72 hours run out (the worker's step) or when the operator releases
it (``connectpsp blocks release``, in a subprocess)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from connectpsp.domain.clients import ClientCredentials
from connectpsp.domain.ledger import FeePlan
from connectpsp.settings import Settings
from tests.e2e.test_cli import cli, env  # noqa: F401 - the fixture
from tests.invariants import cash_in_problems, ledger_problems
from tests.support import Api, FakeClock, RunningServer, cash_out_body, running_server

MARKED_PAYER = {"name": "Paulo Mendes", "document": "40815629974", "ispb": "60701190"}
CLEAN_PAYER = {"name": "Joana Dias", "document": "52998224725", "ispb": "60701190"}


def money(balance: dict[str, Any]) -> tuple[Decimal, ...]:
    return tuple(Decimal(str(balance[k])) for k in ("available", "reserved", "blocked", "total"))


def static_code(m: Api, reference: str) -> str:
    reply = m.http.post(
        "/cash-in", json={"type": "STATIC", "externalReference": reference}, headers=m.headers()
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["brCode"])


def pay(m: Api, code: str, amount: str, payer: dict[str, str]) -> None:
    reply = m.http.post(
        "/sandbox/pix/pay",
        json={"brCode": code, "amount": amount, "payer": payer},
        headers=m.headers(),
    )
    assert reply.status_code == 201, reply.text


def test_a_marked_payers_pix_is_held_until_its_time_runs_out(server: RunningServer) -> None:
    c = server.container
    # "Paulo Mendes" (40815629974) carries a marker from the start (docs/sandbox.md).
    assert c.dict_security.owner_security(MARKED_PAYER["document"]).marked
    creds = c.clients.create("held", cash_in_fee_plan=FeePlan(fixed=50))
    m = Api(server, creds)
    code = static_code(m, "held-1")
    pay(m, code, "10.00", CLEAN_PAYER)
    pay(m, code, "20.00", MARKED_PAYER)
    # 9.50 free; 19.50 credited and held; 29.00 in all.
    assert money(m.balance()) == (Decimal("9.50"), Decimal(0), Decimal("19.50"), Decimal("29.00"))
    short = m.cash_out(cash_out_body(amount="10.00"))
    assert short.status_code == 422 and short.json()["error"]["code"] == "INSUFFICIENT_BALANCE"
    [block] = c.blocks.listed(client_id=creds.client_id)
    assert (block.amount, block.reason.value) == (19_50, "FRAUD_MARKER")
    assert block.expires_at - block.created_at == timedelta(hours=72)

    server.clock.advance(hours=71)
    c.blocks.release_due()
    m.renew_token()
    assert money(m.balance())[2] == Decimal("19.50")  # not yet
    server.clock.advance(hours=1, seconds=1)
    assert c.blocks.release_due() == 1
    m.renew_token()  # 72 hours on
    assert money(m.balance()) == (Decimal("29.00"), Decimal(0), Decimal(0), Decimal("29.00"))
    [released] = c.blocks.listed(client_id=creds.client_id, active_only=False)
    assert released.released_by == "expiry"
    assert c.blocks.release_due() == 0  # once
    assert ledger_problems(c.db) == []
    assert cash_in_problems(c.db) == []
    m.close()


def test_the_operator_releases_a_block(
    env: dict[str, str],  # noqa: F811 - the fixture
    db_settings: Settings,
) -> None:
    created = json.loads(cli(env, "clients", "create", "--name", "held2", "--json").stdout)
    with running_server(db_settings, clock=FakeClock()) as server:
        creds = ClientCredentials(
            created["clientId"],
            created["clientSecret"],
            created["cryptoToken"],
            created["applicationToken"],
            created["webhookSecret"],
        )
        m = Api(server, creds)
        pay(m, static_code(m, "held-2"), "5.00", MARKED_PAYER)
        assert money(m.balance())[2] == Decimal("5.00")
        m.close()
    [listed] = [
        json.loads(line)
        for line in cli(
            env, "blocks", "list", "--client", creds.client_id, "--json"
        ).stdout.splitlines()
    ]
    assert listed["amount"] == 500 and listed["releasedAt"] is None
    out = cli(env, "blocks", "release", listed["id"], "--by", "ana@operator").stdout
    assert "released R$ 5,00" in out
    again = cli(env, "blocks", "release", listed["id"], "--by", "ana@operator", check=False)
    assert again.returncode != 0
    with running_server(db_settings, clock=FakeClock()) as server:
        m = Api(server, creds)
        assert money(m.balance()) == (Decimal("5.00"), Decimal(0), Decimal(0), Decimal("5.00"))
        m.close()
    shown = cli(env, "blocks", "list", "--client", creds.client_id, "--all").stdout
    assert "by ana@operator" in shown
