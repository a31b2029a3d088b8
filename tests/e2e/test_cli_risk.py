"""``connectpsp clients update`` and ``connectpsp risk decisions``, as an operator runs
them, in subprocesses, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

from connectpsp.domain.clients import ClientCredentials
from connectpsp.domain.clock import SAO_PAULO
from connectpsp.settings import Settings
from tests.e2e.test_cli import assert_one_line_error, cli, env  # noqa: F401 - the fixture
from tests.support import Api, FakeClock, cash_out_body, running_server


def test_clients_update_sets_the_rules_and_risk_decisions_lists_them(
    env: dict[str, str],  # noqa: F811 - the fixture
    db_settings: Settings,
) -> None:
    created = json.loads(cli(env, "clients", "create", "--name", "risky", "--json").stdout)
    client_id = created["clientId"]
    out = cli(
        env,
        "clients",
        "update",
        client_id,
        "--max-cash-outs-per-minute",
        "1",
        "--new-payee-limit",
        "50.00",
        "--night-window",
        "22:00-05:00",
    ).stdout
    assert "cash-outs per minute: off -> 1" in out and "new payee limit: off -> R$ 50,00" in out
    assert "night window: 20:00-06:00 -> 22:00-05:00" in out
    with running_server(db_settings, clock=FakeClock()) as server:
        stored = server.container.clients.get(client_id).risk
        assert (stored.max_cash_outs_per_minute, stored.new_payee_limit) == (1, 50_00)
        assert stored.night_window == "22:00-05:00" and stored.max_amount_per_hour is None
        server.container.clients.fund(client_id, 100_00)
        credentials = ClientCredentials(
            client_id,
            created["clientSecret"],
            created["cryptoToken"],
            created["applicationToken"],
            created["webhookSecret"],
        )
        api = Api(server, credentials)
        assert api.cash_out(cash_out_body(amount="1.00")).status_code == 202
        refused = api.cash_out(cash_out_body(amount="1.00"))
        assert refused.json()["error"]["details"]["rule"] == "max_cash_outs_per_minute"
        api.close()
    listed = cli(env, "risk", "decisions", "--client", client_id, "--json").stdout.splitlines()
    newest, oldest = (json.loads(line) for line in listed)
    assert (oldest["outcome"], newest["outcome"]) == ("accepted", "refused")
    assert newest["code"] == "LIMIT_EXCEEDED"
    assert oldest["payee"] == "***.456.789-**"  # masked
    assert "12345678909" not in "".join(listed)
    table = cli(env, "risk", "decisions", "--client", client_id).stdout
    assert "max_cash_outs_per_minute FAILED" in table
    off = cli(env, "clients", "update", client_id, "--max-cash-outs-per-minute", "off").stdout
    assert off.splitlines()[1] == "  cash-outs per minute: 1 -> off"


def test_clients_update_refuses_bad_values_in_one_line(
    env: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    client_id = json.loads(cli(env, "clients", "create", "--name", "x", "--json").stdout)[
        "clientId"
    ]
    for args, says in (
        (["--max-cash-outs-per-minute", "0"], "--max-cash-outs-per-minute"),
        (["--max-amount-per-hour", "-5"], "--max-amount-per-hour"),
        (["--night-window", "25:00-06:00"], "HH:MM"),
        (["--night-window", "06:00-06:00"], "--night-window"),
        ([], "nothing to change"),
    ):
        result = cli(env, "clients", "update", client_id, *args, check=False)
        assert_one_line_error(result, 2, says)
    unknown = cli(env, "clients", "update", "no-such-client", "--night-limit", "1.00", check=False)
    assert_one_line_error(unknown, 1, "No client")
    bad_since = cli(env, "risk", "decisions", "--since", "yesterday", check=False)
    assert_one_line_error(bad_since, 2, "--since")


def test_risk_decisions_since_lists_those_from_that_time_on(
    env: dict[str, str],  # noqa: F811 - the fixture
    db_settings: Settings,
) -> None:
    created = json.loads(cli(env, "clients", "create", "--name", "since", "--json").stdout)
    client_id = created["clientId"]
    credentials = ClientCredentials(
        client_id,
        created["clientSecret"],
        created["cryptoToken"],
        created["applicationToken"],
        created["webhookSecret"],
    )
    clock = FakeClock()
    with running_server(db_settings, clock=clock) as server:
        server.container.clients.fund(client_id, 100_00)

        def cash_out(amount: str) -> None:
            api = Api(server, credentials)  # a token of its own: 2 h outlive one
            assert api.cash_out(cash_out_body(amount=amount)).status_code == 202
            api.close()

        cash_out("1.00")
        first = clock.now()
        clock.advance(hours=2)
        cash_out("2.00")

    def amounts(*since: str) -> list[int]:
        args = ["risk", "decisions", "--client", client_id, "--json"]
        listed = cli(env, *args, *since).stdout.splitlines()
        return [json.loads(line)["amount"] for line in listed]

    assert amounts() == [2_00, 1_00]
    between = (first + timedelta(hours=1)).astimezone(SAO_PAULO)
    assert amounts("--since", between.isoformat()) == [2_00]
    # No offset: São Paulo's time.
    assert amounts("--since", between.replace(tzinfo=None).isoformat()) == [2_00]
    assert amounts("--since", (first - timedelta(minutes=1)).isoformat()) == [2_00, 1_00]
    assert amounts("--since", (clock.now() + timedelta(minutes=1)).isoformat()) == []
