"""The console's client forms, read as the CLI reads its options: amounts exactly, every
bad field named by the form's own name, a blank field left to the default (or kept);
and the audit log's record of a client, which holds no secret, hash or ciphertext."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from connectpsp.console.client_forms import (
    client_record,
    read_changes,
    read_client_id,
    read_new_client,
    settings_form,
)
from connectpsp.domain.errors import ValidationFailed
from connectpsp.domain.ledger import FeePlan
from connectpsp.service.clients import ClientChanges
from tests.unit.test_auth_memory import CLIENT


def test_a_new_client_form_is_read_exactly_and_blanks_are_the_defaults() -> None:
    new = read_new_client(
        {"name": " Loja ", "fee_fixed": "0.07", "daily_limit": "50000.00", "fee_bps": ""}
    )
    assert (new.name, new.fee_plan, new.cash_in_fee_plan) == (" Loja ", FeePlan(7, 0), None)
    assert (new.daily_limit, new.per_transaction_limit, new.document) == (50_000_00, None, None)
    cash_in = read_new_client({"name": "x", "cash_in_fee_bps": "25", "document": "11144477735"})
    assert (cash_in.fee_plan, cash_in.cash_in_fee_plan) == (None, FeePlan(0, 25))
    assert cash_in.document == "11144477735"


@pytest.mark.parametrize(
    ("form", "fields"),
    [
        ({"name": ""}, ["name"]),
        ({"name": "ok", "fee_fixed": "0.075"}, ["fee_fixed"]),
        ({"name": "ok", "fee_bps": "10001"}, ["fee_bps"]),
        ({"name": "ok", "cash_in_fee_bps": "1.5"}, ["cash_in_fee_bps"]),
        ({"name": "ok", "cash_in_fee_bps": "١٢"}, ["cash_in_fee_bps"]),  # not ASCII digits
        ({"name": "ok", "daily_limit": "-1"}, ["daily_limit"]),
        ({"name": "ok", "merchant_city": "x" * 16}, ["merchant_city"]),
        (
            {"name": " ", "document": "123", "per_transaction_limit": "1e3", "fee_bps": "x"},
            ["name", "document", "fee_bps", "per_transaction_limit"],
        ),
    ],
)
def test_every_bad_field_is_named_once_in_the_forms_order(
    form: dict[str, str], fields: list[str]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        read_new_client(form)
    assert [e.field for e in refused.value.errors] == fields


def test_the_fees_and_limits_form_keeps_a_blank_field() -> None:
    assert read_changes({"fee_fixed": "0", "daily_limit": " ", "fee_bps": "150"}) == (
        ClientChanges(fee_fixed=0, fee_bps=150)
    )
    assert not read_changes({})
    with pytest.raises(ValidationFailed) as refused:
        read_changes({"fee_fixed": "1,00", "cash_in_fee_fixed": "0.001"})
    assert [e.field for e in refused.value.errors] == ["fee_fixed", "cash_in_fee_fixed"]
    shown = settings_form(replace(CLIENT, fee_plan=FeePlan(7, 150)))
    assert (shown["fee_fixed"], shown["fee_bps"], shown["daily_limit"]) == (
        "0.07",
        "150",
        "10000.00",
    )
    assert read_changes(shown) == ClientChanges(
        fee_fixed=7,
        fee_bps=150,
        cash_in_fee_fixed=0,
        cash_in_fee_bps=0,
        per_transaction_limit=1_000_00,
        daily_limit=10_000_00,
    )


def test_only_a_uuid_as_new_id_writes_it_is_a_new_clients_id() -> None:
    good = "0b5f3c1e-7d2a-4c59-9e61-3f8a2b7c4d10"
    assert read_client_id({"client_id": good}) == good
    for bad in ("", "x", good.upper(), "{" + good + "}", good.replace("-", ""), "../" + good):
        assert read_client_id({"client_id": bad}) is None
    assert read_client_id({}) is None


def test_the_audit_record_holds_no_secret_hash_or_ciphertext() -> None:
    client = replace(
        CLIENT,
        document="11144477735",
        secret_hash="$argon2id$v=19$secret",
        crypto_token_enc="v1.crypto",
        webhook_secret_enc="v1.webhook",
        secret_rotated_at=datetime(2026, 3, 10, 15, 0, tzinfo=UTC),
    )
    record = client_record(client)
    text = json.dumps(record)
    for stored in ("argon2", "v1.", client.app_token_hash, "11144477735"):
        assert stored not in text
    assert record["document"] == "***.444.777-**"
    assert record["secret_rotated_at"] == "2026-03-10T12:00:00-03:00"
