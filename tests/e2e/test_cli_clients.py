"""``connectpsp clients update / disable / enable / list --json`` as an operator runs them,
in subprocesses, against servers on the same database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

from connectpsp.settings import Settings
from tests.e2e.test_cli import assert_one_line_error, cli, env  # noqa: F401 - the fixture
from tests.receiver import receiver
from tests.support import Api, RunningServer, new_merchant, running_server, wait_for


def listed(env: dict[str, str], client_id: str) -> dict[str, object]:  # noqa: F811
    lines = cli(env, "clients", "list", "--json").stdout.splitlines()
    (found,) = [c for c in map(json.loads, lines) if c["clientId"] == client_id]
    return dict(found)


def fee_of(m: Api, internal_code: str) -> object:
    return m.get(f"/cash-out/{internal_code}").json()["feeAmount"]


def test_fees_and_limits_changed_apply_to_the_next_cash_out(
    env: dict[str, str],  # noqa: F811 - the fixture
    server: RunningServer,
) -> None:
    m = new_merchant(server, fund=1_000_00)
    client_id = m.creds.client_id
    first = m.cash_out(amount="10.00")
    assert first.status_code == 202 and fee_of(m, first.json()["internalCode"]) == 0
    out = cli(
        env,
        "clients",
        "update",
        client_id,
        "--fee-fixed",
        "0.07",
        "--fee-bps",
        "100",
        "--per-transaction-limit",
        "20.00",
        "--name",
        "Renamed Ltda",
        "--max-cash-outs-per-minute",
        "5",
    ).stdout.splitlines()
    assert out[0] == f"client {client_id}:"
    assert out[1].startswith("  name: merchant-") and out[1].endswith(" -> Renamed Ltda")
    assert out[2] == "  cash-out fee: R$ 0,00 + 0 bps -> R$ 0,07 + 100 bps"
    assert out[3].startswith("  per-transaction limit: ") and out[3].endswith(" -> R$ 20,00")
    assert out[4] == "  cash-outs per minute: off -> 5"  # the risk options: one transaction
    assert "within a second" in out[5]
    # The CLI is another process: this server forgets the client at its next look at the
    # clients' changes, every second (service.auth).
    wait_for(
        lambda: (
            server.container.auth.authenticate_from_memory(
                f"Bearer {m.token}", m.creds.application_token
            )
            is None
        )
    )
    second = m.cash_out(amount="10.00")
    assert second.status_code == 202, second.text
    assert fee_of(m, second.json()["internalCode"]) == 0.17  # 0.07 + 1% of 10.00
    assert m.balance()["reserved"] == 20.17  # the ledger holds the new fee too
    over = m.cash_out(amount="20.01")
    assert over.status_code == 400 and "per-transaction limit of R$ 20,00" in over.text
    shown = listed(env, client_id)
    assert shown["name"] == "Renamed Ltda"
    assert shown["fee"] == {"fixed": "0.07", "bps": 100}
    assert shown["perTransactionLimit"] == "20.00" and shown["available"] == "979.83"
    same = cli(env, "clients", "update", client_id, "--fee-fixed", "0.07").stdout
    assert "nothing changed" in same


def test_a_client_disabled_by_the_cli_is_refused_by_a_running_server_within_a_second(
    env: dict[str, str],  # noqa: F811 - the fixture
    server: RunningServer,
) -> None:
    """The server served the client just before, so it remembers it; the CLI, another
    process, disables it, and the server refuses the token it holds within a second or
    so, without anyone telling it."""
    m = new_merchant(server)
    assert m.get("/balance").status_code == 200  # remembered from now on
    cli(env, "clients", "disable", m.creds.client_id)
    disabled_at = time.monotonic()
    wait_for(lambda: m.get("/balance").status_code == 401)
    assert time.monotonic() - disabled_at < 5  # a second's look, and a loaded machine
    refused = m.get("/balance").json()["error"]
    assert refused["code"] == "UNAUTHORIZED" and "disabled" in refused["message"]
    cli(env, "clients", "enable", m.creds.client_id)
    assert m.get("/balance").status_code == 200  # a disabled client is never remembered
    m.close()


def test_a_bad_value_is_refused_exactly_and_nothing_is_written(
    env: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    created = json.loads(cli(env, "clients", "create", "--name", "exact", "--json").stdout)
    client_id = created["clientId"]
    before = listed(env, client_id)
    # The reading of each amount is unit-tested (tests/unit/test_client_changes.py); here,
    # that the command refuses in one line, every bad option named, and writes nothing.
    for args, says in (
        (["--daily-limit", "50.005"], "--daily-limit must have at most 2 decimal places"),
        (
            ["--fee-fixed", "0.10", "--daily-limit", "1e3", "--fee-bps", "-1", "--name", " "],
            "--name must not be empty; --fee-bps must be between 0 and 10000 basis points "
            "(100%); --daily-limit must be a decimal number such as 50.00",
        ),
    ):
        result = cli(env, "clients", "update", client_id, *args, check=False)
        assert_one_line_error(result, 2, says)
    assert listed(env, client_id) == before
    unknown = cli(env, "clients", "update", "no-such-client", "--daily-limit", "1.00", check=False)
    assert_one_line_error(unknown, 1, "No client no-such-client.")
    zero = cli(env, "clients", "update", client_id, "--daily-limit", "0", "--fee-fixed", "0.00")
    assert "daily limit: R$ 1.000.000,00 -> R$ 0,00" in zero.stdout
    assert listed(env, client_id)["dailyLimit"] == "0.00"


def test_list_prints_whole_ids_however_narrow_the_terminal(
    env: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    created = json.loads(cli(env, "clients", "create", "--name", "narrow", "--json").stdout)
    human = cli({**env, "COLUMNS": "40"}, "clients", "list").stdout
    assert any(line.startswith(created["clientId"] + "  ") for line in human.splitlines())
    shown = listed(env, created["clientId"])
    assert set(shown) == {
        "clientId",
        "name",
        "active",
        "available",
        "fee",
        "cashInFee",
        "perTransactionLimit",
        "dailyLimit",
        "createdAt",
    }
    assert shown["active"] is True and str(shown["createdAt"]).endswith("-03:00")


def test_a_disabled_client_gets_no_token_nor_uses_one_but_its_cash_out_settles(
    env: dict[str, str],  # noqa: F811 - the fixture
    db_settings: Settings,
) -> None:
    """A cash-out accepted before the client was disabled settles, and its webhook goes
    out; the server that settles it never served the client, so it refuses the client's
    tokens at once (one that served it would within a second)."""
    with receiver() as hook:
        with running_server(db_settings) as accepting:  # no worker: nothing settles here
            m = new_merchant(accepting, fund=100_00)
            hook.expect(m.creds.webhook_secret, "/hook")
            accepted = m.cash_out(webhookUrl=f"{hook.url}/hook")
            assert accepted.status_code == 202, accepted.text
        out = cli(env, "clients", "disable", m.creds.client_id).stdout
        assert out.strip() == f"client {m.creds.client_id}: status active -> disabled"
        assert listed(env, m.creds.client_id)["active"] is False
        with running_server(db_settings, worker=True) as settling:
            api = Api(settling, m.creds)
            api._token = m.token  # the token it held before it was disabled
            login = {"clientId": m.creds.client_id, "clientSecret": m.creds.client_secret}
            for reply in (api.get("/balance"), api.cash_out()):
                assert reply.status_code == 401, reply.text
                assert reply.json()["error"]["code"] == "UNAUTHORIZED"
                assert "disabled" in reply.json()["error"]["message"]
            refused = api.http.post("/auth/token", json=login)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "INVALID_CREDENTIALS"
            assert "disabled" in refused.json()["error"]["message"]
            # Without the secret, nobody learns that the client exists, let alone that
            # it is disabled.
            wrong = api.http.post("/auth/token", json={**login, "clientSecret": "cs_wrong"})
            assert wrong.status_code == 401 and "disabled" not in wrong.text
            (event,) = hook.wait_for(1)  # settled by this server's worker, and told
            assert event.json()["data"]["internalCode"] == accepted.json()["internalCode"]
            assert event.json()["data"]["status"] == "COMPLETED"
            out = cli(env, "clients", "enable", m.creds.client_id).stdout
            assert out.strip() == f"client {m.creds.client_id}: status disabled -> active"
            # A disabled client is never remembered: enabled, its tokens work at once.
            assert api.get("/balance").status_code == 200
            assert api.http.post("/auth/token", json=login).status_code == 200
            api.close()
    m.close()
