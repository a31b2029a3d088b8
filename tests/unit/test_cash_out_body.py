"""The plain reading of a cash-out body (``plain_cash_out``) against pydantic's
(``checked_cash_out``): whatever the plain one takes, pydantic takes alike, to the same
request; and the usual body is read the plain way."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectpsp.adapters.participants import load_participants
from connectpsp.api.cash_out_body import checked_cash_out, parse_cash_out, plain_cash_out
from connectpsp.domain.cashout import CashOutRequest
from connectpsp.domain.errors import ValidationFailed

PARTICIPANTS = load_participants()
LIMIT = 1_000_00
MISSING = object()

BAD: st.SearchStrategy[Any] = st.sampled_from([None, 0, 1.5, True, [], {}, ""])


def mostly(good: st.SearchStrategy[Any], *other: st.SearchStrategy[Any]) -> Any:
    """``good`` four times in five, else any of ``other``: most drawn bodies are then
    valid but for one or two fields, the edge the two readings must agree on."""
    return st.integers(0, 4).flatmap(lambda n: good if n else st.one_of(*other))


AMOUNTS = mostly(
    st.sampled_from(["0.01", "50.00", "50.5", "1000.00", 1, 1000, Decimal("50.50")]),
    st.sampled_from(["1000.01", "50.005", "0", "-1", "1e2", "50.", ".5", 1001, -1, 0]),
    st.integers(-5, 2_000),
    st.decimals(min_value=-1, max_value=2_000, places=3),
    st.just(Decimal("NaN")),
    BAD,
)
TEXT = st.text(max_size=3)
REFERENCES = mostly(
    st.sampled_from(["withdrawal-42", "a", "x" * 64, "a:b.c_d"]),
    st.sampled_from(["x" * 65, "has space", "ação", ""]),
    TEXT,
    BAD,
)
NAMES = mostly(
    st.sampled_from(["Maria Silva", "n" * 120, " M "]),
    st.sampled_from(["", "   ", "n" * 121]),
    TEXT,
    BAD,
)
DOCUMENTS = mostly(
    st.sampled_from(["12345678909", "11222333000181"]),
    st.sampled_from(["12345678900", "1234567890", "11.222.333/0001-81"]),
    BAD,
)
KEYS = mostly(
    st.sampled_from(
        [
            ("CPF", "12345678909"),
            ("CNPJ", "11222333000181"),
            ("EMAIL", "maria@example.com"),
            ("PHONE", "+5511987654321"),
            ("EVP", "123e4567-e89b-42d3-a456-426614174000"),
        ]
    ),
    st.sampled_from(
        [
            ("CPF", "12345678900"),
            ("CPF", "11222333000181"),
            ("EMAIL", "Maria@example.com"),
            ("EMAIL", "m" * 70 + "@ex.com"),
            ("PHONE", "11987654321"),
            ("EVP", "123E4567-E89B-42D3-A456-426614174000"),
            ("cpf", "12345678909"),
            ("CPF", 12345678909),
            ([], "12345678909"),
            (None, "x"),
        ]
    ),
)
URLS = mostly(
    st.sampled_from([MISSING, None, "https://example.com/hooks", "http://127.0.0.1:9/h"]),
    st.sampled_from(
        [
            "ftp://example.com",
            "https://",
            "https://example.com:99999/",
            "https://e.com/" + "p" * 2040,
            "https://e.com/" + "p" * 2034,
        ]
    ),
    BAD,
)
DESCRIPTIONS = mostly(st.sampled_from([MISSING, None, "Saque", "d" * 140]), st.just("d" * 141), BAD)


@st.composite
def destinations(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["pix"] * 12 + ["bank", "brcode", "other"]))
    if kind == "pix":
        key_type, key = draw(KEYS)
        found: dict[str, Any] = {"type": "PIX", "pixKeyType": key_type, "pixKey": key}
        if draw(st.integers(0, 9)) == 0:
            del found[draw(st.sampled_from(sorted(found)))]
        if draw(st.integers(0, 9)) == 0:
            found["bankAccount"] = {}
        return found
    if kind == "bank":
        return {
            "type": "BANK_ACCOUNT",
            "bankAccount": {
                "ispb": "18236120",
                "branch": "0001",
                "account": "947710840",
                "accountType": "CHECKING",
            },
        }
    if kind == "brcode":
        return {"type": "BRCODE", "brCode": "000201"}
    return draw(st.one_of(BAD, st.just({"type": "PIX"})))


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(BAD)
    payee: Any = {
        "name": draw(NAMES),
        "document": draw(DOCUMENTS),
        "destination": draw(destinations()),
    }
    if draw(st.integers(0, 9)) == 0:
        del payee[draw(st.sampled_from(sorted(payee)))]
    if draw(st.integers(0, 19)) == 0:
        payee["extra"] = 1
    if draw(st.integers(0, 19)) == 0:
        payee = draw(BAD)
    body: dict[str, Any] = {
        "amount": draw(AMOUNTS),
        "externalReference": draw(REFERENCES),
        "payee": payee,
        "description": draw(DESCRIPTIONS),
        "webhookUrl": draw(URLS),
    }
    body = {k: v for k, v in body.items() if v is not MISSING}
    if draw(st.integers(0, 9)) == 0:
        del body[draw(st.sampled_from(sorted(body)))]
    if draw(st.integers(0, 19)) == 0:
        body[draw(st.sampled_from(["external_reference", "fee", "Amount"]))] = "1"
    return body


def checked(data: Any) -> CashOutRequest | None:
    try:
        return checked_cash_out(data, PARTICIPANTS, LIMIT)
    except ValidationFailed:
        return None


@settings(max_examples=3000, deadline=None)
@given(bodies())
def test_what_the_plain_reading_takes_pydantic_takes_alike(data: Any) -> None:
    plain = plain_cash_out(data, LIMIT)
    if plain is not None:
        assert checked(data) == plain


USUAL = {
    "amount": "50.00",
    "externalReference": "withdrawal-42",
    "payee": {
        "name": "Maria Silva",
        "document": "12345678909",
        "destination": {"type": "PIX", "pixKeyType": "CPF", "pixKey": "12345678909"},
    },
}


def test_the_usual_body_is_read_the_plain_way_to_pydantics_request() -> None:
    for extra in ({}, {"description": "Saque"}, {"webhookUrl": "https://example.com/h"}):
        body = {**USUAL, **extra}
        plain = plain_cash_out(body, LIMIT)
        assert plain is not None
        assert plain == checked_cash_out(body, PARTICIPANTS, LIMIT)
        assert parse_cash_out(body, PARTICIPANTS, LIMIT) == plain


def test_a_bad_body_is_left_to_pydantic_which_names_the_field() -> None:
    body = {**USUAL, "amount": "50.005"}
    assert plain_cash_out(body, LIMIT) is None
    with pytest.raises(ValidationFailed) as refused:
        parse_cash_out(body, PARTICIPANTS, LIMIT)
    assert [e.field for e in refused.value.errors] == ["amount"]
    over = {**USUAL, "amount": "1000.01"}
    assert plain_cash_out(over, LIMIT) is None
    assert checked(over) is None
