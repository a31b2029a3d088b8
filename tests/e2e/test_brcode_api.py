"""POST /brcode/decode through the real server, on SQLite and PostgreSQL: a published
code's fields, each refusal as 400 INVALID_BRCODE naming the field, the body's own
validation, and the authentication every POST of the cash-in API carries."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectpsp.brcode import crc16
from tests.support import Api, RunningServer, new_merchant

# BCB, Manual de Padrões para Iniciação do Pix (v2.10.0), §2.6.3 and §2.7.2.
BCB_STATIC = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
BCB_DYNAMIC = (
    "00020101021226700014br.gov.bcb.pix2548pix.example.com/8b3da2f39a4140d1a91abd93113bd441"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***630464E4"
)
# stone-payments/ex-pix-brcode, test/ex_pix_brcode/decoder_test.exs (free-text field).
STONE_DESCRIPTION = (
    "00020126490014BR.GOV.BCB.PIX0111111111111110212Vacina covid52040000530398654031005802BR"
    "5904CARL6010SAN.FIERRO62100506b4b4c46304040C"
)


def with_crc(body: str) -> str:
    return body + crc16(body.encode())


@pytest.fixture(scope="module")
def merchant(server: RunningServer) -> Iterator[Api]:
    m = new_merchant(server)
    yield m
    m.close()


def decode(m: Api, payload: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return m.http.post("/brcode/decode", json=payload, headers=headers or m.headers())


def test_a_static_code_with_amount_and_text(merchant: Api) -> None:
    reply = decode(merchant, {"brCode": STONE_DESCRIPTION})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "type": "STATIC",
        "pixKey": "11111111111",
        "url": None,
        "amount": 100.00,
        "merchantName": "CARL",
        "merchantCity": "SAN.FIERRO",
        "txid": "b4b4c4",
        "description": "Vacina covid",
    }
    assert '"amount":100.00' in reply.text  # as every amount goes out: two places


def test_the_manuals_codes(merchant: Api) -> None:
    static = decode(merchant, {"brCode": BCB_STATIC}).json()
    assert (static["type"], static["pixKey"], static["amount"], static["txid"]) == (
        "STATIC",
        "123e4567-e12b-12d1-a456-426655440000",
        None,
        "***",
    )
    dynamic = decode(merchant, {"brCode": BCB_DYNAMIC}).json()
    assert dynamic == {
        "type": "DYNAMIC",
        "pixKey": None,
        "url": "pix.example.com/8b3da2f39a4140d1a91abd93113bd441",
        "amount": None,
        "merchantName": "Fulano de Tal",
        "merchantCity": "BRASILIA",
        "txid": "***",
        "description": None,
    }


@pytest.mark.parametrize(
    ("code", "reason", "field", "words"),
    [
        pytest.param(BCB_STATIC[:-4] + "0000", "CRC_MISMATCH", "63", "field 63 (CRC)", id="crc"),
        # The declared length of 59 one short, and the CRC recomputed: still refused.
        pytest.param(
            with_crc(BCB_STATIC[:-4].replace("5913Fulano", "5912Fulano")),
            "BAD_LENGTH",
            "59",
            "field 59 (merchant name)",
            id="length",
        ),
        pytest.param(
            with_crc(BCB_STATIC[:-4].replace("5802BR", "")),
            "MISSING_FIELD",
            "58",
            "field 58 (country) is missing",
            id="missing",
        ),
        pytest.param(
            with_crc(BCB_STATIC[:-4].replace("br.gov.bcb.pix", "br.gov.bcb.pic")),
            "UNKNOWN_GUI",
            "26/00",
            "field 26/00 (GUI) must be br.gov.bcb.pix",
            id="gui",
        ),
    ],
)
def test_a_refused_code_is_invalid_brcode_naming_the_field(
    merchant: Api, code: str, reason: str, field: str, words: str
) -> None:
    reply = decode(merchant, {"brCode": code})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "INVALID_BRCODE"
    assert error["details"] == {"reason": reason, "field": field}
    assert words in error["message"]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({}, "is required"),
        ({"brCode": 12}, "string"),
        ({"brCode": "0" * 513}, "512"),
        ({"brCode": BCB_STATIC, "extra": 1}, None),
        (["brCode"], None),
    ],
)
def test_the_body_is_validated_naming_brcode(
    merchant: Api, payload: object, problem: str | None
) -> None:
    reply = decode(merchant, payload)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    if problem is not None:
        assert [d["field"] for d in error["details"]] == ["brCode"]
        assert problem in error["details"][0]["message"]


def test_it_is_authenticated_and_signed_as_every_post(merchant: Api) -> None:
    signed = merchant.headers()
    unsigned = {k: v for k, v in signed.items() if k != "DigitalSignature"}
    reply = decode(merchant, {"brCode": BCB_STATIC}, unsigned)
    assert (reply.status_code, reply.json()["error"]["code"]) == (401, "INVALID_SIGNATURE")
    no_token = {k: v for k, v in signed.items() if k != "Authorization"}
    reply = decode(merchant, {"brCode": BCB_STATIC}, no_token)
    assert (reply.status_code, reply.json()["error"]["code"]) == (401, "UNAUTHORIZED")
    other = {**signed, "ApplicationToken": "not-mine"}
    reply = decode(merchant, {"brCode": BCB_STATIC}, other)
    assert (reply.status_code, reply.json()["error"]["code"]) == (401, "INVALID_APPLICATION_TOKEN")


def test_it_keeps_no_idempotency_key(merchant: Api) -> None:
    """A decode stores nothing: without a key, or with one key for two bodies, each
    body gets its own answer, never a replay."""
    headers = {k: v for k, v in merchant.headers().items() if k != "X-Idempotency-Key"}
    assert decode(merchant, {"brCode": BCB_STATIC}, headers).status_code == 200
    keyed = merchant.headers(key="one-key")
    first = decode(merchant, {"brCode": BCB_STATIC}, keyed)
    second = decode(merchant, {"brCode": BCB_DYNAMIC}, keyed)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["type"], second.json()["type"]) == ("STATIC", "DYNAMIC")
    assert "Idempotent-Replayed" not in second.headers
