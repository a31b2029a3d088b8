"""The BR Code codec against published vectors: BCB's manual, and the test suites of
public BR Code libraries, copied verbatim. Each is decoded and its fields checked; where
the source writes its fields in our order, encoding the decoded fields gives its bytes
back. Then one refusal per reason, and a round-trip property."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectpsp import brcode
from connectpsp.brcode import NO_TXID, BrCode, BrCodeError, crc16, decode, encode

# BCB, Manual de Padrões para Iniciação do Pix (v2.10.0): §2.6.3 (static, random key, no
# amount), §2.7.2 (dynamic) and §2.8.5 (composite, with an amount and a field 80 for Pix
# Automático, which a payer of the one-off payment ignores). The first two are also
# quoted in stone-payments/ex-pix-brcode, test/ex_pix_brcode/decoder_test.exs ("succeeds
# on BACEN example").
BCB_STATIC = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
BCB_DYNAMIC = (
    "00020101021226700014br.gov.bcb.pix2548pix.example.com/8b3da2f39a4140d1a91abd93113bd441"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***630464E4"
)
BCB_COMPOSITE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865406100.505802BR5913Fulano de Tal6008BRASILIA62070503***"
    "80740014br.gov.bcb.pix2552pix.example.com/rec/2353c790eefb11eaadc10242ac120002"
    "63042875"
)
# starkbank/brcode-python, tests/brcode/testStaticBrcode.py and testDynamicBrcode.py.
STARK_STATIC = (
    "00020126360014br.gov.bcb.pix0114arya@stark.com5204000053039865406125.005802BR5910Arya Stark"
    "6009Sao Paulo622005161297364819273409630440F2"
)
STARK_DYNAMIC = (
    "00020101021226800014br.gov.bcb.pix2558invoice.starkbank.com/f5333103-3279-4db2-8389-"
    "5efe335ba93d5204000053039865802BR5910Arya Stark6009Sao Paulo62200516565656565656565663"
    "04A56D"
)
# stone-payments/ex-pix-brcode, test/ex_pix_brcode/decoder_test.exs: "examples from
# financial institutions (REDACTED FIELDS) - 2020-11-23", and the free-text ones.
STONE_DYNAMIC = (
    "00020101021226850014br.gov.bcb.pix2563exemplodeurl.com.br/pix/v2/11111111-1111-1111-1111-"
    "11111111111152040000530398654040.015802BR5925TESTE DE TESTE DO TESTEIE6014RIO DE JANEIRO"
    "62070503***6304CD52"
)
STONE_UPPERCASE_GUI = (
    "00020126580014BR.GOV.BCB.PIX013611111111-1111-1111-1111-11111111111152040000530398654040."
    "015802BR5925TESTE DO TESTE DO TESTEIE6009SAO PAULO6226052211111111111111111111116304642D"
)
STONE_POSTAL_CODE = (
    "00020126580014BR.GOV.BCB.PIX013611111111-1111-1111-1111-11111111111152040000530398654040."
    "015802BR5925Teste do Teste do TesteIE6009SAO PAULO61081111111162160512NUgpnvaS87Ts6304760E"
)
STONE_DYNAMIC_WITH_TXID = (
    "00020101021226820014br.gov.bcb.pix2560exemplodeurl.com/pix/v2/11111111-1111-1111-1111-"
    "11111111111152040000530398654045.805802BR5925TESTE DO TESTE DO TESTEIE6014RIO DE JANEIRO"
    "622905251111111111111111111111111630449F9"
)
STONE_DESCRIPTION = (
    "00020126490014BR.GOV.BCB.PIX0111111111111110212Vacina covid52040000530398654031005802BR"
    "5904CARL6010SAN.FIERRO62100506b4b4c46304040C"
)
STONE_AMOUNT_0_9 = (
    "00020126490014BR.GOV.BCB.PIX0111111111111110212Vacina covid52040000530398654030.95802BR"
    "5904CARL6010SAN.FIERRO62100506b4b4c463044D69"
)
# A real code quoted in bacen/pix-api issue #622.
BACEN_ISSUE_622 = (
    "00020101021226820014br.gov.bcb.pix2560pix.stone.com.br/pix/v2/234e3f9d-7cb3-4b29-9d46-"
    "974796d0bb29520400005303986540527.005802BR5925PERFECT PAY TECNOLOGIA SE6014RIO DE JANEIRO"
    "622905255ddb94f8bd33c3bfd1ad38e3b6304AE32"
)

EVP = "123e4567-e12b-12d1-a456-426655440000"
STONE_URL = "exemplodeurl.com.br/pix/v2/11111111-1111-1111-1111-111111111111"
STONE_EVP = "11111111-1111-1111-1111-111111111111"


def static(key: str, name: str, city: str, **rest: object) -> BrCode:
    return BrCode("STATIC", key, None, merchant_name=name, merchant_city=city, **rest)  # type: ignore[arg-type]


def dynamic(url: str, name: str, city: str, **rest: object) -> BrCode:
    fields = {"point_of_initiation": "12", **rest}
    return BrCode("DYNAMIC", None, url, merchant_name=name, merchant_city=city, **fields)  # type: ignore[arg-type]


PUBLISHED = [
    pytest.param(
        BCB_STATIC, static(EVP, "Fulano de Tal", "BRASILIA", amount=None), id="bcb-static"
    ),
    pytest.param(
        BCB_DYNAMIC,
        dynamic(
            "pix.example.com/8b3da2f39a4140d1a91abd93113bd441",
            "Fulano de Tal",
            "BRASILIA",
            amount=None,
        ),
        id="bcb-dynamic",
    ),
    pytest.param(
        BCB_COMPOSITE, static(EVP, "Fulano de Tal", "BRASILIA", amount=100_50), id="bcb-composite"
    ),
    pytest.param(
        STARK_STATIC,
        static("arya@stark.com", "Arya Stark", "Sao Paulo", amount=125_00, txid="1297364819273409"),
        id="stark-static",
    ),
    pytest.param(
        STARK_DYNAMIC,
        dynamic(
            "invoice.starkbank.com/f5333103-3279-4db2-8389-5efe335ba93d",
            "Arya Stark",
            "Sao Paulo",
            amount=None,
            txid="5656565656565656",
        ),
        id="stark-dynamic",
    ),
    pytest.param(
        STONE_DYNAMIC,
        dynamic(STONE_URL, "TESTE DE TESTE DO TESTEIE", "RIO DE JANEIRO", amount=1),
        id="stone-dynamic",
    ),
    pytest.param(
        STONE_UPPERCASE_GUI,
        static(STONE_EVP, "TESTE DO TESTE DO TESTEIE", "SAO PAULO", amount=1, txid="1" * 22),
        id="stone-uppercase-gui",
    ),
    pytest.param(
        STONE_POSTAL_CODE,
        static(STONE_EVP, "Teste do Teste do TesteIE", "SAO PAULO", amount=1, txid="NUgpnvaS87Ts"),
        id="stone-postal-code",
    ),
    pytest.param(
        STONE_DYNAMIC_WITH_TXID,
        dynamic(
            "exemplodeurl.com/pix/v2/11111111-1111-1111-1111-111111111111",
            "TESTE DO TESTE DO TESTEIE",
            "RIO DE JANEIRO",
            amount=5_80,
            txid="1" * 25,
        ),
        id="stone-dynamic-with-txid",
    ),
    pytest.param(
        STONE_DESCRIPTION,
        static(
            "11111111111",
            "CARL",
            "SAN.FIERRO",
            amount=100_00,
            txid="b4b4c4",
            description="Vacina covid",
        ),
        id="stone-description",
    ),
    pytest.param(
        STONE_AMOUNT_0_9,
        static(
            "11111111111",
            "CARL",
            "SAN.FIERRO",
            amount=90,
            txid="b4b4c4",
            description="Vacina covid",
        ),
        id="stone-amount-0.9",
    ),
    pytest.param(
        BACEN_ISSUE_622,
        dynamic(
            "pix.stone.com.br/pix/v2/234e3f9d-7cb3-4b29-9d46-974796d0bb29",
            "PERFECT PAY TECNOLOGIA SE",
            "RIO DE JANEIRO",
            amount=27_00,
            txid="5ddb94f8bd33c3bfd1ad38e3b",
        ),
        id="bacen-pix-api-622",
    ),
]


@pytest.mark.parametrize(("text", "expected"), PUBLISHED)
def test_each_published_code_decodes_to_its_fields(text: str, expected: BrCode) -> None:
    assert decode(text) == expected


def re_encode(code: BrCode) -> str:
    return encode(
        merchant_name=code.merchant_name,
        merchant_city=code.merchant_city,
        pix_key=code.pix_key,
        url=code.url,
        amount=code.amount,
        description=code.description,
        txid=code.txid,
        point_of_initiation=code.point_of_initiation if code.type == "STATIC" else None,
    )


# Written in our field order (00, 01, 26, 52, 53, 54, 58, 59, 60, 62, 63) and with what
# we write. The others hold a postal code, a field 80, an upper-case GUI, an amount or a
# txid on a dynamic code, or "100" for 100.00: decoded above, not written so.
@pytest.mark.parametrize("text", [BCB_STATIC, BCB_DYNAMIC, STARK_STATIC])
def test_encoding_the_decoded_fields_gives_the_published_bytes(text: str) -> None:
    assert re_encode(decode(text)) == text


def test_the_generator_writes_the_manuals_static_example_from_its_inputs() -> None:
    assert (
        encode(pix_key=EVP, merchant_name="Fulano de Tal", merchant_city="BRASILIA") == BCB_STATIC
    )
    # starkbank/brcode-python's own inputs: "São Paulo" and 12500 centavos.
    written = encode(
        pix_key="arya@stark.com",
        amount=12500,
        merchant_name="Arya Stark",
        merchant_city="São Paulo",
        txid="1297364819273409",
    )
    assert written == STARK_STATIC


def test_the_generator_writes_a_dynamic_code_with_01_12_and_no_txid() -> None:
    written = encode(
        url="pix.example.com/8b3da2f39a4140d1a91abd93113bd441",
        merchant_name="Fulano de Tal",
        merchant_city="BRASÍLIA",
    )
    assert written == BCB_DYNAMIC


def test_crc16_is_ccitt_false() -> None:
    assert crc16(b"123456789") == "29B1"  # the algorithm's check value
    for text in (BCB_STATIC, BCB_DYNAMIC, BCB_COMPOSITE, STARK_DYNAMIC):
        assert crc16(text[:-4].encode()) == text[-4:]


@pytest.mark.parametrize(
    ("centavos", "written"),
    [
        (1, "0.01"),
        (90, "0.90"),
        (10_50, "10.50"),
        (100_00, "100.00"),
        (10**12 - 1, "9999999999.99"),
    ],
)
def test_amounts_are_written_exactly_from_centavos(centavos: int, written: str) -> None:
    code = encode(pix_key="k@example.com", amount=centavos, merchant_name="A", merchant_city="B")
    assert f"54{len(written):02d}{written}5802BR" in code
    assert decode(code).amount == centavos


def test_names_lose_their_accents_and_are_cut_to_the_limits() -> None:
    code = encode(
        pix_key="k@example.com",
        merchant_name="  Tenda Espírita Caboclo Ubirajara e Pai João",
        merchant_city="São José dos Campos",
    )
    decoded = decode(code)
    assert decoded.merchant_name == "Tenda Espirita Caboclo Ub"
    assert decoded.merchant_city == "Sao Jose dos Ca"
    assert code.isascii()


@pytest.mark.parametrize(
    ("fields", "reason", "field"),
    [
        ({"merchant_name": "東京"}, "BAD_VALUE", "59"),  # what stays non-ASCII is refused
        ({"merchant_city": "   "}, "BAD_VALUE", "60"),
        ({"amount": 0}, "BAD_VALUE", "54"),
        ({"amount": -5}, "BAD_VALUE", "54"),
        ({"amount": 10**13}, "BAD_LENGTH", "54"),
        ({"txid": "with-dash"}, "BAD_VALUE", "62/05"),
        ({"txid": "A" * 26}, "BAD_VALUE", "62/05"),
        ({"pix_key": None}, "CONFLICTING_FIELDS", "26"),
        ({"url": "pix.example.com/x"}, "CONFLICTING_FIELDS", "26"),
        ({"description": "x" * 60}, "BAD_LENGTH", "26"),
    ],
)
def test_the_generator_refuses_what_it_cannot_write(
    fields: dict[str, object], reason: str, field: str
) -> None:
    given_fields: dict[str, object] = {
        "pix_key": EVP,
        "merchant_name": "Fulano",
        "merchant_city": "Recife",
        **fields,
    }
    with pytest.raises(BrCodeError) as refused:
        encode(**given_fields)  # type: ignore[arg-type]
    assert (refused.value.reason, refused.value.field) == (reason, field)


def test_the_generator_refuses_an_amount_given_as_a_float() -> None:
    with pytest.raises(BrCodeError, match="centavos"):
        encode(pix_key=EVP, merchant_name="A", merchant_city="B", amount=10.5)  # type: ignore[arg-type]


def test_the_generator_refuses_a_dynamic_code_with_a_scheme_or_static_fields() -> None:
    for extra in ({"amount": 100}, {"txid": "abc"}, {"description": "x"}):
        with pytest.raises(BrCodeError) as refused:
            encode(url="pix.example.com/x", merchant_name="A", merchant_city="B", **extra)
        assert refused.value.reason == "CONFLICTING_FIELDS"
    with pytest.raises(BrCodeError) as refused:
        encode(url="https://pix.example.com/x", merchant_name="A", merchant_city="B")
    assert (refused.value.reason, refused.value.field) == ("BAD_VALUE", "26/25")


# refusals ---------------------------------------------------------------------------------


def with_crc(body: str) -> str:
    """``body`` (up to and including ``6304``) with its correct CRC."""
    assert body.endswith("6304")
    return body + crc16(body.encode())


def swap(text: str, old: str, new: str) -> str:
    """BCB_STATIC-like ``text`` with ``old`` replaced once, and a recomputed CRC: so the
    refusal is about the field, never the CRC."""
    assert text.count(old) == 1, old
    return with_crc(text.replace(old, new)[:-4])


BODY = BCB_STATIC[:-4]  # up to and including 6304


REFUSALS = [
    # (code, reason, field, words in the message)
    pytest.param(BCB_STATIC[:-4] + "1D3E", "CRC_MISMATCH", "63", "1D3D", id="crc-wrong"),
    pytest.param(BCB_STATIC[:-4] + "1d3d", "BAD_VALUE", "63", "uppercase", id="crc-lowercase"),
    pytest.param(BCB_STATIC[:-4] + "1D3G", "BAD_VALUE", "63", "hexadecimal", id="crc-not-hex"),
    # The published code with one letter changed: its CRC no longer matches.
    pytest.param(
        BCB_STATIC.replace("Fulano", "Fulana"), "CRC_MISMATCH", "63", "CRC", id="corrupted"
    ),
    # A declared length one short of its value, the CRC recomputed so that it matches.
    pytest.param(
        swap(BCB_STATIC, "5913Fulano", "5912Fulano"),
        "BAD_LENGTH",
        "59",
        "length",
        id="length-short",
    ),
    pytest.param(
        swap(BCB_STATIC, "5913Fulano", "5914Fulano"), "BAD_LENGTH", "59", "length", id="length-long"
    ),
    pytest.param(
        swap(BCB_STATIC, "0136123e", "0135123e"), "BAD_LENGTH", "26/01", "length", id="inner-length"
    ),
    # stone-payments/ex-pix-brcode's "can handle non-ascii characters": 6008BRASÍLIA
    # counts characters; in bytes (as the manual counts) BRASÍLIA is 9, so 08 is wrong.
    pytest.param(
        "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
        "5913Fulano de Tal6008BRASÍLIA62070503***6304B4F6",
        "BAD_LENGTH",
        "60",
        "length",
        id="length-in-characters",
    ),
    pytest.param(
        swap(BCB_STATIC, "6008BRASILIA", "6005BRASÍLIA"),
        "BAD_LENGTH",
        "60",
        "splits a character",
        id="split-character",
    ),
    pytest.param(
        with_crc(BODY.replace("6008BRASILIA", "6016BRASILIA CENTRAL")),
        "BAD_LENGTH",
        "60",
        "15 bytes",
        id="city-too-long",
    ),
    pytest.param(
        with_crc(BODY.replace("5913Fulano de Tal", "5926Fulano de Tal Fulano de Ta")),
        "BAD_LENGTH",
        "59",
        "25 bytes",
        id="name-too-long",
    ),
    pytest.param(
        with_crc(BODY.replace("5802BR", "")), "MISSING_FIELD", "58", "missing", id="no-country"
    ),
    pytest.param(
        with_crc(BODY.replace("52040000", "")), "MISSING_FIELD", "52", "missing", id="no-category"
    ),
    pytest.param(
        with_crc(BODY.replace("5303986", "")), "MISSING_FIELD", "53", "missing", id="no-currency"
    ),
    pytest.param(
        with_crc(BODY.replace("5913Fulano de Tal", "")),
        "MISSING_FIELD",
        "59",
        "missing",
        id="no-name",
    ),
    pytest.param(
        with_crc(BODY.replace("6008BRASILIA", "")), "MISSING_FIELD", "60", "missing", id="no-city"
    ),
    pytest.param(with_crc(BODY[6:]), "MISPLACED_FIELD", "00", "first", id="no-00"),
    pytest.param(BCB_STATIC[:-8], "MISSING_FIELD", "63", "missing", id="no-crc"),
    pytest.param(
        with_crc("000201520400005303986" + "5802BR5913Fulano de Tal6008BRASILIA62070503***6304"),
        "MISSING_FIELD",
        "26",
        "missing",
        id="no-account",
    ),
    pytest.param(
        with_crc(BODY.replace("26580014br.gov.bcb.pix0136", "26400136")),
        "MISSING_FIELD",
        "26/00",
        "missing",
        id="no-gui",
    ),
    pytest.param(
        swap(BCB_STATIC, "0014br.gov.bcb.pix", "0014br.gov.bcb.pic"),
        "UNKNOWN_GUI",
        "26/00",
        "br.gov.bcb.pix",
        id="other-gui",
    ),
    pytest.param(swap(BCB_STATIC, "000201", "000202"), "BAD_VALUE", "00", "01", id="format-02"),
    pytest.param(
        swap(BCB_STATIC, "5303986", "5303840"), "BAD_VALUE", "53", "986", id="currency-usd"
    ),
    pytest.param(swap(BCB_STATIC, "5802BR", "5802US"), "BAD_VALUE", "58", "BR", id="country-us"),
    pytest.param(
        swap(BCB_STATIC, "52040000", "5204ABCD"),
        "BAD_VALUE",
        "52",
        "4 digits",
        id="category-letters",
    ),
    pytest.param(
        swap(BCB_STATIC, "000201", "000201010213"),
        "BAD_VALUE",
        "01",
        "11 or 12",
        id="initiation-13",
    ),
    # stone-payments/ex-pix-brcode's "transaction_amount with '10.'": they accept it; a
    # plain decimal has digits after its point.
    pytest.param(
        "00020126490014BR.GOV.BCB.PIX0111111111111110212Vacina covid520400005303986540310.5802BR5904CARL"
        "6010SAN.FIERRO62100506b4b4c463049878",
        "BAD_VALUE",
        "54",
        "decimal",
        id="amount-10.",
    ),
    pytest.param(
        swap(BCB_STATIC, "5802BR", "54055.0055802BR"),
        "BAD_VALUE",
        "54",
        "2 places",
        id="amount-3-places",
    ),
    pytest.param(
        swap(BCB_STATIC, "5802BR", "54040.005802BR"),
        "BAD_VALUE",
        "54",
        "more than zero",
        id="amount-zero",
    ),
    pytest.param(
        swap(BCB_STATIC, "5802BR", "5405-1.005802BR"),
        "BAD_VALUE",
        "54",
        "decimal",
        id="amount-negative",
    ),
    pytest.param(
        swap(BCB_STATIC, "5802BR", "54041e325802BR"),
        "BAD_VALUE",
        "54",
        "decimal",
        id="amount-exponent",
    ),
    pytest.param(
        swap(BCB_STATIC, "5802BR", "540501.005802BR"),
        "BAD_VALUE",
        "54",
        "decimal",
        id="amount-leading-zero",
    ),
    pytest.param(
        swap(BCB_STATIC, "62070503***", "62090505ab-cd"),
        "BAD_VALUE",
        "62/05",
        "letters and digits",
        id="txid-dash",
    ),
    pytest.param(
        swap(BCB_STATIC, "62070503***", "62300526" + "A" * 26),
        "BAD_VALUE",
        "62/05",
        "25",
        id="txid-26-characters",
    ),
    pytest.param(BCB_STATIC + "0000", "TRAILING_DATA", "63", "last", id="after-crc"),
    pytest.param(
        with_crc(BODY.replace("5802BR", "63041D3D5802BR")),
        "TRAILING_DATA",
        "63",
        "last",
        id="crc-not-last",
    ),
    pytest.param(
        swap(BCB_STATIC, "5802BR", "5802BR5802BR"),
        "DUPLICATE_FIELD",
        "58",
        "more than once",
        id="duplicate",
    ),
    pytest.param(
        swap(BCB_STATIC, "26580014br.gov.bcb.pix", "26700014br.gov.bcb.pix2508pix.a/bc"),
        "CONFLICTING_FIELDS",
        "26",
        "both",
        id="key-and-url",
    ),
    pytest.param(
        swap(BCB_STATIC, "26580014br.gov.bcb.pix0136" + EVP, "26180014br.gov.bcb.pix"),
        "MISSING_FIELD",
        "26/01",
        "location URL",
        id="neither-key-nor-url",
    ),
    pytest.param(
        swap(BCB_DYNAMIC, "26700014br.gov.bcb.pix2548pix", "26780014br.gov.bcb.pix2556https://pix"),
        "BAD_VALUE",
        "26/25",
        "scheme",
        id="url-with-scheme",
    ),
    # stone-payments/ex-pix-brcode's "dynamic_payment_with_due_date" code, from BCB's
    # sandbox: a dynamic code without 01 = 12, which the issue's manual reading requires.
    pytest.param(
        "00020126990014br.gov.bcb.pix2577qr-h.sandbox.pix.bcb.gov.br/rest/api/v2/cobv/9b95a87c10a84d65bcbf55a48a2e50c8"
        "5204000053039865802BR5903Pix6008BRASILIA62070503***63048ECF",
        "MISSING_FIELD",
        "01",
        "12",
        id="dynamic-without-01",
    ),
    pytest.param(
        swap(BCB_DYNAMIC, "010212", "010211"), "BAD_VALUE", "01", "12", id="dynamic-01-11"
    ),
    pytest.param(
        swap(BCB_STATIC, "5913Fulano de Tal", "5913Fulano\tde Tal"),
        "BAD_VALUE",
        "59",
        "control",
        id="control-char",
    ),
    pytest.param(swap(BCB_STATIC, "5913", "5900"), "BAD_LENGTH", "59", "0 bytes", id="zero-length"),
    pytest.param("", "MISSING_FIELD", "00", "empty", id="empty"),
    pytest.param("hello", "BAD_VALUE", None, "field ID", id="not-a-code"),
    pytest.param("\ud800", "BAD_VALUE", None, "text", id="lone-surrogate"),
]


@pytest.mark.parametrize(("text", "reason", "field", "words"), REFUSALS)
def test_each_refusal_names_its_reason_and_field(
    text: str, reason: str, field: str | None, words: str
) -> None:
    with pytest.raises(BrCodeError) as refused:
        decode(text)
    error = refused.value
    assert (error.reason, error.field) == (reason, field), error.message
    assert words in error.message
    if field is not None:  # the message names the field by ID and name
        assert f"field {field} ({brcode.FIELD_NAMES[field]})" in error.message


def test_a_length_mismatch_is_refused_even_when_the_crc_matches() -> None:
    text = swap(BCB_STATIC, "5913Fulano", "5912Fulano")
    assert crc16(text[:-4].encode()) == text[-4:]
    with pytest.raises(BrCodeError, match="field 59"):
        decode(text)


# the round trip ---------------------------------------------------------------------------

_printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1)
_name = _printable.map(lambda s: s.strip()).filter(bool)
_alnum = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
    min_size=1,
    max_size=25,
)


@given(
    key=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40),
    name=_name.map(lambda s: s[:25].rstrip()),
    city=_name.map(lambda s: s[:15].rstrip()),
    amount=st.none() | st.integers(min_value=1, max_value=10**12 - 1),
    description=st.none() | _name.map(lambda s: s[:30].rstrip()),
    txid=st.just(NO_TXID) | _alnum,
    point=st.sampled_from([None, "11", "12"]),
)
def test_a_static_code_decodes_to_what_was_encoded(
    key: str,
    name: str,
    city: str,
    amount: int | None,
    description: str | None,
    txid: str,
    point: str | None,
) -> None:
    text = encode(
        pix_key=key,
        merchant_name=name,
        merchant_city=city,
        amount=amount,
        description=description,
        txid=txid,
        point_of_initiation=point,  # type: ignore[arg-type]
    )
    assert decode(text) == BrCode("STATIC", key, None, amount, name, city, txid, description, point)  # type: ignore[arg-type]


@given(
    url=st.from_regex(
        re.compile(r"[a-z0-9]{1,20}\.[a-z]{2,3}(/[A-Za-z0-9._-]{1,30}){1,2}"), fullmatch=True
    ),
    name=st.text(min_size=1, max_size=40),
    city=st.text(min_size=1, max_size=40),
)
def test_a_dynamic_code_decodes_to_what_was_encoded(url: str, name: str, city: str) -> None:
    written = _written(url=url, merchant_name=name, merchant_city=city)
    if isinstance(written, BrCodeError):  # a name left with no Latin letters, or empty
        assert (written.reason, written.field) in {("BAD_VALUE", "59"), ("BAD_VALUE", "60")}
        return
    decoded = decode(written)
    assert (decoded.type, decoded.url, decoded.txid, decoded.point_of_initiation) == (
        "DYNAMIC",
        url,
        NO_TXID,
        "12",
    )
    assert written.isascii()
    assert 1 <= len(decoded.merchant_name) <= 25 and 1 <= len(decoded.merchant_city) <= 15


def _written(**fields: str) -> str | BrCodeError:
    try:
        return encode(**fields)  # type: ignore[arg-type]
    except BrCodeError as refused:
        return refused
