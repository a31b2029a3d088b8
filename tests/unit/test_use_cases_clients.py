"""Clients over in-memory fakes, in milliseconds: creating one (its secrets kept only as
hashes and ciphertexts, its ledger account opened), the checks on what it is given,
funding it through the ledger, and disabling it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from connectpsp.domain.errors import NotFound, ValidationFailed
from connectpsp.domain.ledger import WORLD, Balance, FeePlan, TransferKind, client_account_code
from connectpsp.domain.money import MAX_CENTAVOS
from connectpsp.service.clients import ClientService, crypto_context, webhook_context
from tests.fakes import FakeHasher, Services, fake_services


@pytest.fixture
def s() -> Iterator[Services]:
    with fake_services() as services:
        yield services


def test_a_new_client_keeps_only_hashes_and_ciphertexts_of_its_secrets(s: Services) -> None:
    creds = s.clients.create("  Loja Exemplo  ", fee_plan=FeePlan(fixed=50, bps=100))
    client = s.clients.get(creds.client_id)
    assert (client.name, client.fee_plan, client.active, client.created_at) == (
        "Loja Exemplo",
        FeePlan(fixed=50, bps=100),
        True,
        s.clock.now(),
    )
    stored = repr(client)
    for secret in (
        creds.client_secret,
        creds.crypto_token,
        creds.application_token,
        creds.webhook_secret,
    ):
        assert secret not in stored
    assert FakeHasher().verify(client.secret_hash, creds.client_secret)
    assert client.app_token_hash == hashlib.sha256(creds.application_token.encode()).hexdigest()
    cipher, client_id = s.cipher, creds.client_id
    assert cipher.decrypt(client.crypto_token_enc, context=crypto_context(client_id)) == (
        creds.crypto_token
    )
    assert cipher.decrypt(client.webhook_secret_enc, context=webhook_context(client_id)) == (
        creds.webhook_secret
    )
    account = s.db.committed.accounts[client_account_code(client_id)]
    assert (account.client_id, account.no_overdraft) == (client_id, True)
    assert s.clients.balance(client_id) == Balance(0, 0, 0, 0)


LIMITS = ["per_transaction_limit", "daily_limit"]


@pytest.mark.parametrize(
    ("name", "limits", "fields"),
    [
        ("", {}, ["name"]),
        ("   ", {}, ["name"]),
        ("x" * 121, {}, ["name"]),
        ("bell\x07", {}, ["name"]),
        ("ok", {"per_transaction_limit": -1}, ["per_transaction_limit"]),
        ("ok", {"daily_limit": MAX_CENTAVOS + 1}, ["daily_limit"]),
        (
            "",
            {"per_transaction_limit": -1, "daily_limit": -1},
            ["name", "per_transaction_limit", "daily_limit"],
        ),
    ],
)
def test_a_bad_client_is_refused_naming_every_bad_field_and_nothing_is_stored(
    s: Services, name: str, limits: dict[str, int], fields: list[str]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        s.clients.create(
            name,
            per_transaction_limit=limits.get("per_transaction_limit"),
            daily_limit=limits.get("daily_limit"),
        )
    assert [e.field for e in refused.value.errors] == fields
    assert s.clients.list() == []


@pytest.mark.parametrize(("given", "kept"), [(None, 1_000_000_00), (0, 0), (5_00, 5_00)])
def test_a_limit_given_is_kept_and_none_is_the_default(
    s: Services, given: int | None, kept: int
) -> None:
    creds = s.clients.create("c", daily_limit=given)
    assert s.clients.get(creds.client_id).daily_limit == kept


def test_funding_credits_the_client_from_the_outside_world(s: Services) -> None:
    creds = s.clients.create("c")
    assert s.clients.fund(creds.client_id, 25_00) == Balance(25_00, 0, 0, 0)
    assert s.clients.fund(creds.client_id, 5_00).available == 30_00
    fundings = list(s.db.committed.transfers.values())
    assert {(t.debit, t.kind, t.code, t.ref) for t in fundings} == {
        (WORLD, TransferKind.SINGLE, "sandbox_fund", creds.client_id)
    }
    with s.db() as uow:
        assert uow.ledger.balance(WORLD).debits_posted == 30_00  # summed from transfers
        code = client_account_code(creds.client_id)
        assert uow.ledger.summed_balance(code) == uow.ledger.balance(code)
    with pytest.raises(NotFound):
        s.clients.fund("no-such-client", 1_00)
    assert len(s.db.committed.transfers) == 2


def test_disabling_a_client_is_remembered_and_told(s: Services) -> None:
    forgotten: list[str] = []
    clients = ClientService(
        s.db,
        clock=s.clock,
        hasher=FakeHasher(),
        cipher=s.cipher,
        default_fee_plan=FeePlan(),
        default_per_transaction_limit=1_00,
        default_daily_limit=1_00,
        on_changed=forgotten.append,
    )
    creds = clients.create("c")
    clients.set_active(creds.client_id, False)
    assert not clients.get(creds.client_id).active and forgotten == [creds.client_id]
    clients.set_active(creds.client_id, True)
    assert clients.get(creds.client_id).active
    with pytest.raises(NotFound):
        clients.set_active("no-such-client", False)
    with pytest.raises(NotFound):
        clients.get("no-such-client")
    assert forgotten == [creds.client_id] * 2
