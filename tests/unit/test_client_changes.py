"""Changing and disabling a client, over in-memory fakes, in milliseconds: the CLI's exact
reading of amounts, what ``clients update`` may change and how it is checked, and what
disabling a client stops and what it leaves running."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from connectpsp.cli.clients import amount_or_zero
from connectpsp.domain.cashout import CashOutStatus
from connectpsp.domain.errors import InvalidCredentials, NotFound, Unauthorized, ValidationFailed
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.money import MAX_CENTAVOS
from connectpsp.domain.risk import RiskRules
from connectpsp.service.acceptance import Accepted
from connectpsp.service.clients import ClientChanges, ClientService, changed_client
from tests.fakes import FakeHasher, Services, fake_services, request
from tests.unit.test_auth_memory import APP_TOKEN, CLIENT, Clients, auth_over


@pytest.fixture
def s() -> Iterator[Services]:
    with fake_services() as services:
        yield services


@pytest.mark.parametrize(
    ("text", "centavos"),
    [("0.07", 7), ("50.00", 50_00), ("50", 50_00), ("50.5", 50_50), ("0", 0), ("0.00", 0)],
)
def test_an_amount_is_read_exactly(text: str, centavos: int) -> None:
    assert amount_or_zero(text) == centavos
    assert amount_or_zero(f" {text} ") == centavos  # as a shell may pass it


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("50.005", "at most 2 decimal places"),  # refused, never rounded
        ("0.075", "at most 2 decimal places"),
        ("0.000", "at most 2 decimal places"),
        ("1e3", "decimal number"),
        ("-1", "decimal number"),
        ("+1", "decimal number"),
        ("1,00", "decimal number"),
        ("NaN", "decimal number"),
        ("", "decimal number"),
        ("01.00", "decimal number"),
    ],
)
def test_an_amount_that_is_not_exact_is_refused(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        amount_or_zero(text)


def test_a_part_of_a_fee_given_alone_keeps_the_other_and_nothing_else_moves() -> None:
    client = replace(CLIENT, fee_plan=FeePlan(fixed=50, bps=100), cash_in_fee_plan=FeePlan(20, 10))
    after = changed_client(client, ClientChanges(fee_fixed=7, cash_in_fee_bps=0))
    assert (after.fee_plan, after.cash_in_fee_plan) == (FeePlan(7, 100), FeePlan(20, 0))
    assert replace(after, fee_plan=client.fee_plan, cash_in_fee_plan=FeePlan(20, 10)) == client
    renamed = changed_client(client, ClientChanges(name="  Nova Loja  ", daily_limit=0))
    assert (renamed.name, renamed.daily_limit) == ("Nova Loja", 0)
    risky = changed_client(
        replace(client, risk=RiskRules(night_limit=5_00)),
        ClientChanges(risk={"night_limit": None, "max_cash_outs_per_minute": 3}),
    )
    assert risky.risk == RiskRules(max_cash_outs_per_minute=3)


def test_every_bad_change_is_named_at_once() -> None:
    changes = ClientChanges(
        name=" ",
        fee_fixed=-1,
        fee_bps=10_001,
        cash_in_fee_bps=-1,
        per_transaction_limit=MAX_CENTAVOS + 1,
        daily_limit=-1,
        risk={"max_cash_outs_per_minute": 0},
    )
    with pytest.raises(ValidationFailed) as refused:
        changed_client(CLIENT, changes)
    assert [e.field for e in refused.value.errors] == [
        "name",
        "per_transaction_limit",
        "daily_limit",
        "fee_fixed",
        "fee_bps",
        "cash_in_fee_bps",
        "max_cash_outs_per_minute",
    ]
    assert not ClientChanges() and ClientChanges(daily_limit=0)


def test_an_update_is_one_change_told_once_and_a_refused_one_writes_nothing(
    s: Services,
) -> None:
    told: list[str] = []
    clients = ClientService(
        s.db,
        clock=s.clock,
        hasher=FakeHasher(),
        cipher=s.cipher,
        default_fee_plan=FeePlan(),
        default_per_transaction_limit=1_000_00,
        default_daily_limit=10_000_00,
        on_changed=told.append,
    )
    client_id = clients.create("c").client_id
    before, after = clients.update(
        client_id, ClientChanges(fee_fixed=7, fee_bps=100, per_transaction_limit=20_00)
    )
    assert (before.fee_plan, before.per_transaction_limit) == (FeePlan(), 1_000_00)
    assert (after.fee_plan, after.per_transaction_limit) == (FeePlan(7, 100), 20_00)
    assert clients.get(client_id) == after and told == [client_id]
    with pytest.raises(ValidationFailed):
        clients.update(client_id, ClientChanges(daily_limit=0, fee_bps=-1))
    assert clients.get(client_id) == after and told == [client_id]
    with pytest.raises(NotFound):
        clients.update("no-such-client", ClientChanges(daily_limit=0))


def test_new_fees_and_limits_apply_to_the_next_cash_out(s: Services) -> None:
    payer = s.client(funds=100_00)
    first = s.cash_outs.create(payer, str(uuid.uuid4()), request(10_00))
    assert isinstance(first.outcome, Accepted)
    assert s.db.committed.cash_outs[first.outcome.result.id].fee == 0
    _, payer = s.clients.update(payer.id, ClientChanges(fee_fixed=7, fee_bps=100))
    second = s.cash_outs.create(payer, str(uuid.uuid4()), request(10_00))
    assert isinstance(second.outcome, Accepted)
    assert s.db.committed.cash_outs[second.outcome.result.id].fee == 17  # 0.07 + 1%
    assert s.clients.balance(payer.id).reserved == 20_17


def test_a_disabled_client_still_settles_what_it_had_accepted(s: Services) -> None:
    payer = s.client(funds=100_00)
    decided = s.cash_outs.create(payer, str(uuid.uuid4()), request(10_00))
    assert isinstance(decided.outcome, Accepted)
    assert s.clients.set_active(payer.id, False) is True  # it was active
    assert s.clients.set_active(payer.id, False) is False  # already disabled
    assert s.settlement.run_due() == 1
    done = s.db.committed.cash_outs[decided.outcome.result.id]
    assert done.status is CashOutStatus.COMPLETED
    assert [e.type for e in s.db.published] == ["CASHOUT_COMPLETED"]  # its webhook goes out


def test_a_disabled_client_is_never_remembered() -> None:
    """So enabling it shows at once in every process; only an active client is trusted
    from memory, for CLIENT_CACHE_SECONDS."""
    clients = Clients(replace(CLIENT, active=False))
    auth = auth_over(clients)
    with pytest.raises(Unauthorized, match="disabled"):
        auth.authenticate("Bearer token", APP_TOKEN)
    assert auth.authenticate_from_memory("Bearer token", APP_TOKEN) is None
    clients.client = CLIENT  # enabled by another process
    assert auth.authenticate("Bearer token", APP_TOKEN).client.active
    assert clients.reads == 2


class Throttle:
    def __init__(self) -> None:
        self.failed_scopes = 0

    def check(self, scope: object) -> None:
        pass

    def failed(self, scope: object) -> None:
        self.failed_scopes += 1

    def succeeded(self, scope: object) -> None:
        pass


def test_a_disabled_client_is_told_so_only_with_its_secret() -> None:
    from connectpsp.service.auth import AuthService

    clients = Clients(replace(CLIENT, active=False, secret_hash=FakeHasher().hash("cs_right")))
    throttle = Throttle()

    def sessions(**_: object) -> object:
        from tests.unit.test_auth_memory import Session

        return Session(clients)

    auth = AuthService(
        sessions,  # type: ignore[arg-type]
        hasher=FakeHasher(),
        cipher=None,  # type: ignore[arg-type]
        tokens=None,  # type: ignore[arg-type]
        throttle=throttle,  # type: ignore[arg-type]
    )
    with pytest.raises(InvalidCredentials, match="disabled"):
        auth.issue_token(CLIENT.id, "cs_right", "127.0.0.1")
    with pytest.raises(InvalidCredentials) as wrong:
        auth.issue_token(CLIENT.id, "cs_wrong", "127.0.0.1")
    assert "disabled" not in wrong.value.message
    assert throttle.failed_scopes == 2  # both count against the limit on attempts
