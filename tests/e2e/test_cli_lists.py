"""``connectpsp cash-outs list/show``, ``cash-ins list/show`` and ``statement``, as an
operator runs them, in subprocesses, on SQLite and PostgreSQL: the same items, fields and
lines the client's API answers (the API's own tests: test_lists.py, test_statement.py)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from connectpsp.domain.clients import ClientCredentials
from connectpsp.settings import Settings
from tests.e2e.test_cli import assert_one_line_error, cli, env  # noqa: F401 - the fixture
from tests.e2e.test_med import received
from tests.support import Api, FakeClock, cash_out_body, running_server, wait_terminal


def test_an_operator_lists_a_clients_cash_outs_charges_and_statement(
    env: dict[str, str],  # noqa: F811 - the fixture
    db_settings: Settings,
) -> None:
    created = json.loads(
        cli(
            env, "clients", "create", "--name", "lists", "--document", "11144477735", "--json"
        ).stdout
    )
    client_id = created["clientId"]
    creds = ClientCredentials(
        client_id,
        created["clientSecret"],
        created["cryptoToken"],
        created["applicationToken"],
        created["webhookSecret"],
    )
    cli(env, "sandbox", "fund", client_id, "50.00")
    with running_server(db_settings, worker=True, clock=FakeClock()) as server:
        m = Api(server, creds)
        sent = [
            m.cash_out(cash_out_body(amount=a, reference=f"ref-{a}")).json()
            for a in ("1.00", "2.00")
        ]
        for c in sent:
            wait_terminal(m, c["internalCode"])
        code, _ = received(m, "3.00")
        api_outs = m.get("/cash-out", limit=10).json()["items"]
        api_charge = m.get(f"/cash-in/{code}").json()
        api_lines = m.get("/statement").json()["items"]
        m.close()

    listed = [
        json.loads(line)
        for line in cli(env, "cash-outs", "list", client_id, "--json").stdout.splitlines()
    ]
    assert listed == api_outs  # newest first, the API's fields
    assert [c["internalCode"] for c in listed] == [c["internalCode"] for c in reversed(sent)]
    human = cli(env, "cash-outs", "list", client_id, "--reference", "ref-1.00").stdout.splitlines()
    assert len(human) == 1 and sent[0]["internalCode"] in human[0] and "R$ 1,00" in human[0]
    shown = json.loads(cli(env, "cash-outs", "show", client_id, sent[1]["internalCode"]).stdout)
    assert shown == api_outs[0]

    charges = [
        json.loads(line)
        for line in cli(env, "cash-ins", "list", client_id, "--json").stdout.splitlines()
    ]
    assert charges == [api_charge]
    assert json.loads(cli(env, "cash-ins", "show", client_id, code).stdout) == api_charge

    lines = [
        json.loads(line) for line in cli(env, "statement", client_id, "--json").stdout.splitlines()
    ]
    assert lines == api_lines
    # The funding, two cash-outs with their fees, the Pix received less its fee: the last
    # line's balance is the available balance, and the lines sum to it.
    signed = [
        Decimal(str(x["amount"])) * (1 if x["movementType"] == "CREDIT" else -1) for x in lines
    ]
    assert sum(signed) == Decimal(str(lines[-1]["balanceAfter"]))
    rows = list(csv.DictReader(io.StringIO(cli(env, "statement", client_id, "--csv").stdout)))
    assert [r["movementId"] for r in rows] == [x["movementId"] for x in lines]
    assert rows[0]["amount"] == "50.00"  # a plain decimal
    human = cli(env, "statement", client_id).stdout.splitlines()
    assert len(human) == len(lines) and "+R$ 50,00" in human[0]

    bad = cli(env, "statement", client_id, "--from", "yesterday", check=False)
    assert_one_line_error(bad, 2, "from")
    unknown = cli(env, "cash-outs", "show", client_id, "ZZZZZZZZZZ", check=False)
    assert unknown.returncode == 1 and "ZZZZZZZZZZ" in unknown.stderr
