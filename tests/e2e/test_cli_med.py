"""``connectpsp infractions list/accept/reject``, as an operator runs them, in
subprocesses, on SQLite and PostgreSQL: the funds a MED report blocked go back to the
payer (a FR01 refund, sent by the worker) or to the client."""

from __future__ import annotations

import json
from decimal import Decimal

from connectpsp.domain.clients import ClientCredentials
from connectpsp.settings import Settings
from tests.e2e.test_cli import cli, env  # noqa: F401 - the fixture
from tests.e2e.test_med import balance, received, report
from tests.invariants import cash_in_problems, ledger_problems
from tests.support import Api, FakeClock, running_server, wait_for


def test_an_operator_lists_accepts_and_rejects_reports(
    env: dict[str, str],  # noqa: F811 - the fixture
    db_settings: Settings,
) -> None:
    created = json.loads(
        cli(env, "clients", "create", "--name", "med", "--document", "11144477735", "--json").stdout
    )
    creds = ClientCredentials(
        created["clientId"],
        created["clientSecret"],
        created["cryptoToken"],
        created["applicationToken"],
        created["webhookSecret"],
    )
    with running_server(db_settings, clock=FakeClock()) as server:
        m = Api(server, creds)
        _, first = received(m, "6.00")
        _, second = received(m, "4.00")
        to_accept = report(m, first).json()["infractionId"]
        to_reject = report(m, second, amount="1.50").json()["infractionId"]
        assert balance(m) == (Decimal("2.50"), Decimal(0), Decimal("7.50"))
        m.close()
    lines = cli(env, "infractions", "list", "--client", creds.client_id, "--json").stdout
    listed = {i["id"]: i for i in map(json.loads, lines.splitlines())}
    assert set(listed) == {to_accept, to_reject}
    assert listed[to_reject]["blocked"] == 150 and listed[to_reject]["status"] == "OPEN"
    out = cli(env, "infractions", "accept", to_accept, "--by", "ana@operator").stdout
    assert "accepted: R$ 6,00 goes back to the payer" in out
    out = cli(
        env, "infractions", "reject", to_reject, "--by", "ana@operator", "--reason", "legit"
    ).stdout
    assert "rejected: R$ 1,50 released" in out
    again = cli(env, "infractions", "accept", to_reject, check=False)
    assert again.returncode != 0 and "rejected already" in again.stderr
    shown = cli(env, "infractions", "list", "--client", creds.client_id, "--all").stdout
    assert "accepted by ana@operator" in shown and "rejected by ana@operator" in shown
    with running_server(db_settings, clock=FakeClock(), worker=True) as server:
        m = Api(server, creds)
        wait_for(lambda: balance(m)[1] == 0)  # the worker sent the refund
        assert balance(m) == (Decimal("4.00"), Decimal(0), Decimal(0))
        assert ledger_problems(server.container.db) == []
        assert cash_in_problems(server.container.db) == []
        m.close()
