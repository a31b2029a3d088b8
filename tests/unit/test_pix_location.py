"""A dynamic code's location payload (BCB's API Pix ``CobPayload``): written from the
charge's plain values, read back strictly; where an issuer's keys are; and the setting
that says where ours are (CONNECTPSP_PUBLIC_URL)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectpsp.domain.pix_location import (
    ChargeStatus,
    LocationError,
    jwks_url_for,
    location_payload,
    read_location_payload,
)
from connectpsp.settings import Settings, SettingsError

TXID = "7978c0c97ea847e78e8849634473c1f1"
CREATED = datetime(2026, 3, 10, 15, 0, 0, 123456, tzinfo=UTC)
SHOWN = datetime(2026, 3, 10, 12, 3, 10, tzinfo=timezone(timedelta(hours=-3)))  # 15:03:10Z


def payload(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "txid": TXID,
        "created_at": CREATED,
        "presented_at": SHOWN,
        "expires_in": 3600,
        "amount": 1050,
        "pix_key": "loja@example.com",
        "description": "Pedido 42",
        "status": ChargeStatus.ACTIVE,
        "revision": 0,
    }
    return location_payload(**{**values, **changes})


def test_the_payload_is_bcbs_cob_payload_field_for_field() -> None:
    assert json.dumps(payload(), separators=(",", ":")) == (
        '{"calendario":{"criacao":"2026-03-10T15:00:00.123Z",'
        '"apresentacao":"2026-03-10T15:03:10.000Z","expiracao":3600},'
        '"txid":"7978c0c97ea847e78e8849634473c1f1","revisao":0,"status":"ATIVA",'
        '"valor":{"original":"10.50"},"chave":"loja@example.com",'
        '"solicitacaoPagador":"Pedido 42"}'
    )


def test_without_a_description_there_is_no_solicitacao_pagador() -> None:
    assert "solicitacaoPagador" not in payload(description=None)


@pytest.mark.parametrize(
    ("centavos", "text"),
    [
        (1, "0.01"),
        (10, "0.10"),
        (99, "0.99"),
        (100, "1.00"),
        (1000, "10.00"),
        (123456, "1234.56"),
        (100_000_000_00, "100000000.00"),
        (999_999_999_999, "9999999999.99"),
    ],
)
def test_the_amount_is_written_exactly_from_centavos(centavos: int, text: str) -> None:
    written = payload(amount=centavos)["valor"]["original"]
    assert written == text
    assert re.fullmatch(r"\d{1,10}\.\d{2}", written)


@given(st.integers(min_value=1, max_value=999_999_999_999))
def test_every_amount_reads_back_as_the_same_centavos(centavos: int) -> None:
    assert read_location_payload(payload(amount=centavos)).amount == centavos


@pytest.mark.parametrize("status", list(ChargeStatus))
def test_each_status_is_written_as_bcb_names_it(status: ChargeStatus) -> None:
    assert payload(status=status)["status"] == status.value
    assert read_location_payload(payload(status=status)).status is status


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"txid": "short"}, "txid"),
        ({"txid": TXID + "-"}, "txid"),
        ({"amount": 0}, "amount"),
        ({"amount": 10**12}, "amount"),
        ({"amount": 10.5}, "amount"),
        ({"expires_in": 0}, "expires_in"),
        ({"revision": -1}, "revision"),
        ({"pix_key": ""}, "pix_key"),
        ({"pix_key": "k" * 78}, "pix_key"),
        ({"description": "d" * 141}, "description"),
        ({"created_at": datetime(2026, 3, 10, 15, 0)}, "timezone"),
        ({"status": "PAGA"}, "PAGA"),
    ],
)
def test_values_no_charge_could_have_are_a_bug(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        payload(**change)


def test_a_payload_reads_back_as_the_charge_it_was_written_from() -> None:
    charge = read_location_payload(payload(revision=2))
    assert charge.txid == TXID
    assert charge.revision == 2
    assert charge.created_at == CREATED.replace(microsecond=123000)  # milliseconds kept
    assert charge.presented_at == SHOWN
    assert charge.expires_at == charge.created_at + timedelta(hours=1)
    assert (charge.amount, charge.pix_key, charge.description) == (
        1050,
        "loja@example.com",
        "Pedido 42",
    )
    assert charge.payable_at(charge.expires_at - timedelta(milliseconds=1))
    assert not charge.payable_at(charge.expires_at)


def test_a_removed_or_paid_charge_is_not_payable() -> None:
    for status in (ChargeStatus.COMPLETED, ChargeStatus.REMOVED_BY_PSP):
        assert not read_location_payload(payload(status=status)).payable_at(CREATED)


# BCB's example payload in the API Pix (GET /{pixUrlAccessToken}): numbers as strings.
BCB_EXAMPLE = {
    "calendario": {
        "criacao": "2020-09-15T19:39:54.013Z",
        "apresentacao": "2020-04-01T18:00:00Z",
        "expiracao": "3600",
    },
    "txid": "fc9a4366ff3d4964b5dbc6c91a8722d3",
    "revisao": "3",
    "status": "ATIVA",
    "valor": {"original": "500.00"},
    "chave": "7407c9c8-f78b-11ea-adc1-0242ac120002",
    "solicitacaoPagador": "Informar cartao fidelidade",
    "infoAdicionais": [{"nome": "quantidade", "valor": "2"}],
}


def test_bcbs_own_example_is_read() -> None:
    charge = read_location_payload(BCB_EXAMPLE)
    assert charge.amount == 500_00
    assert charge.revision == 3
    assert charge.expires_at == datetime(2020, 9, 15, 20, 39, 54, 13000, tzinfo=UTC)
    assert charge.description == "Informar cartao fidelidade"


def _with(path: str, value: Any) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(BCB_EXAMPLE))
    *parents, name = path.split(".")
    target = changed
    for parent in parents:
        target = target[parent]
    if value is _DROP:
        del target[name]
    else:
        target[name] = value
    return changed


_DROP = object()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("valor.original", "500.0"),
        ("valor.original", "500,00"),
        ("valor.original", "0500.00"),
        ("valor.original", 500.0),
        ("valor.original", "0.00"),
        ("valor.original", "12345678901.00"),
        ("valor", _DROP),
        ("calendario.criacao", "2020-09-15T19:39:54"),  # no offset
        ("calendario.criacao", "2020-09-15"),
        ("calendario.criacao", "2020-02-30T00:00:00Z"),
        ("calendario.apresentacao", 1600000000),
        ("calendario.expiracao", 0),
        ("calendario.expiracao", -60),
        ("calendario.expiracao", True),
        ("calendario.expiracao", "1h"),
        ("revisao", -1),
        ("txid", "fc9a-4366"),
        ("txid", _DROP),
        ("chave", ""),
        ("chave", "k" * 78),
        ("status", "PAGA"),
        ("solicitacaoPagador", "s" * 141),
        ("solicitacaoPagador", 42),
    ],
)
def test_a_payload_field_out_of_bcbs_schema_is_refused_by_name(path: str, value: Any) -> None:
    with pytest.raises(LocationError) as refused:
        read_location_payload(_with(path, value))
    assert refused.value.reason == "BAD_PAYLOAD"
    assert refused.value.field == path
    assert str(refused.value).startswith(path + " ")


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(LocationError, match="not a JSON object"):
        read_location_payload([BCB_EXAMPLE])


# Where an issuer's keys are -------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("pix.example.com/qr/v2/9d36b84f", "https://pix.example.com/.well-known/jwks.json"),
        ("PIX.Example.com:8443/qr/1", "https://pix.example.com:8443/.well-known/jwks.json"),
        ("https://pix.example.com/qr/1", "https://pix.example.com/.well-known/jwks.json"),
        # Not loopback: https, whatever the sandbox allows.
        ("10.0.0.5:8000/qr/1", "https://10.0.0.5:8000/.well-known/jwks.json"),
    ],
)
def test_the_jwks_is_on_the_locations_host_over_https(location: str, expected: str) -> None:
    assert jwks_url_for(location, allow_loopback_http=True) == expected


def test_only_the_sandbox_reaches_a_loopback_location_over_http() -> None:
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
        assert jwks_url_for(f"{host}/qr/1", allow_loopback_http=True) == (
            f"http://{host}/.well-known/jwks.json"
        )
        assert jwks_url_for(f"{host}/qr/1", allow_loopback_http=False).startswith("https://")


def test_a_jku_is_followed_only_on_the_locations_own_origin() -> None:
    jku = "https://pix.example.com/keys/jwks.json"
    assert jwks_url_for("pix.example.com/qr/1", jku=jku, allow_loopback_http=False) == jku
    for elsewhere in (
        "https://evil.example/jwks.json",
        "http://pix.example.com/jwks.json",  # downgraded
        "https://pix.example.com:444/jwks.json",
        "https://pix.example.com.evil.example/jwks.json",
        "//pix.example.com/jwks.json",
    ):
        with pytest.raises(LocationError) as refused:
            jwks_url_for("pix.example.com/qr/1", jku=elsewhere, allow_loopback_http=False)
        assert refused.value.reason == "BAD_LOCATION"


@pytest.mark.parametrize(
    "location",
    [
        "",
        "pix.example.com/qr /1",
        "user:pw@pix.example.com/qr/1",
        "pix.example.com:99999/qr",
        "/qr/1",
    ],
)
def test_a_location_that_names_no_reachable_host_is_refused(location: str) -> None:
    with pytest.raises(LocationError) as refused:
        jwks_url_for(location, allow_loopback_http=True)
    assert refused.value.reason == "BAD_LOCATION"


# CONNECTPSP_PUBLIC_URL -------------------------------------------------------------------


def test_the_public_url_defaults_to_the_servers_own_address() -> None:
    assert Settings().public_url == "http://127.0.0.1:8000"
    assert Settings.from_env({}).public_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("https://Pix.Example.com", "https://pix.example.com"),
        ("HTTPS://pix.example.com/", "https://pix.example.com"),
        ("http://connectpsp:8000", "http://connectpsp:8000"),
    ],
)
def test_the_public_url_is_kept_as_scheme_host_and_port(raw: str, kept: str) -> None:
    assert Settings.from_env({"CONNECTPSP_PUBLIC_URL": raw}).public_url == kept


@pytest.mark.parametrize(
    "raw",
    [
        "pix.example.com",
        "ftp://pix.example.com",
        "https://pix.example.com/psp",
        "https://pix.example.com?x=1",
        "https://pix.example.com#top",
        "https://user:pw@pix.example.com",
        "https://pix.example.com:99999",
        "https://",
    ],
)
def test_a_public_url_that_is_not_an_origin_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="CONNECTPSP_PUBLIC_URL must be"):
        Settings.from_env({"CONNECTPSP_PUBLIC_URL": raw})


def test_production_publishes_over_https_unless_only_this_machine_can_reach_it() -> None:
    production = {
        "CONNECTPSP_ENV": "production",
        "CONNECTPSP_RAIL": "simulated",
        "CONNECTPSP_MASTER_KEY": "a" * 43,
    }
    with pytest.raises(SettingsError, match="CONNECTPSP_PUBLIC_URL must be https in production"):
        Settings.from_env({**production, "CONNECTPSP_PUBLIC_URL": "http://pix.example.com"})
    for url in ("https://pix.example.com", "http://127.0.0.1:8000", "http://localhost:9000"):
        assert Settings.from_env({**production, "CONNECTPSP_PUBLIC_URL": url}).public_url == url
    assert Settings.from_env(production).public_url == "http://127.0.0.1:8000"
