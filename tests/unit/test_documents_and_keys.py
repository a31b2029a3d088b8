from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectpsp.domain.documents import (
    DocumentType,
    document_type,
    is_valid_cnpj,
    is_valid_cpf,
    mask_document,
)
from connectpsp.domain.pix import PixKeyType, validate_pix_key


def test_cpf():
    assert is_valid_cpf("12345678909")
    assert not is_valid_cpf("12345678900")
    assert not is_valid_cpf("11111111111")  # repeated digits are invalid
    assert not is_valid_cpf("1234567890")


def test_numeric_cnpj():
    assert is_valid_cnpj("11222333000181")
    assert not is_valid_cnpj("11222333000182")
    assert not is_valid_cnpj("00000000000000")


def test_alphanumeric_cnpj():
    # The Receita Federal's published example of the July 2026 format.
    assert is_valid_cnpj("12ABC34501DE35")
    assert not is_valid_cnpj("12ABC34501DE36")
    assert not is_valid_cnpj("12abc34501de35")  # letters are uppercase only
    assert not is_valid_cnpj("12ABC34501DEA5")  # check digits are digits


def test_document_type_and_messages():
    assert document_type("12345678909") is DocumentType.CPF
    assert document_type("12ABC34501DE35") is DocumentType.CNPJ
    with pytest.raises(ValueError, match="CPF"):
        document_type("12345678900")
    with pytest.raises(ValueError, match=r"CPF .* or a CNPJ"):
        document_type("123")


def test_masking():
    assert mask_document("12345678909") == "***.456.789-**"
    assert mask_document("98765432100") == "***.654.321-**"
    assert mask_document("11222333000181") == "**.222.333/0001-**"


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        (PixKeyType.CPF, "12345678909"),
        (PixKeyType.CNPJ, "11222333000181"),
        (PixKeyType.CNPJ, "12ABC34501DE35"),
        (PixKeyType.EMAIL, "maria.silva@example.com.br"),
        (PixKeyType.PHONE, "+5511987654321"),
        (PixKeyType.PHONE, "+551133334444"),
        (PixKeyType.EVP, "123e4567-e89b-42d3-a456-426614174000"),
    ],
)
def test_valid_keys(kind, key):
    validate_pix_key(kind, key)


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        (PixKeyType.CPF, "123.456.789-09"),
        (PixKeyType.CNPJ, "11222333000182"),
        (PixKeyType.EMAIL, "Maria@Example.com"),  # DICT keys are lowercase
        (PixKeyType.EMAIL, "a" * 70 + "@exa.com"),  # 78 characters
        (PixKeyType.EMAIL, "no-at-sign"),
        (PixKeyType.PHONE, "11987654321"),
        (PixKeyType.PHONE, "+5511987"),
        (PixKeyType.PHONE, "+14155550100"),
        (PixKeyType.EVP, "123E4567-E89B-42D3-A456-426614174000"),
        (PixKeyType.EVP, "not-a-uuid"),
    ],
)
def test_invalid_keys(kind, key):
    with pytest.raises(ValueError):
        validate_pix_key(kind, key)


# The check digits as the Receita Federal defines them, written plainly: the reference
# the validators (written for speed) are held to.
def _digit(values: list[int], weights: Sequence[int]) -> int:
    remainder = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def _completed(head: str, first: Sequence[int], second: Sequence[int]) -> str:
    values = [ord(c) - 48 for c in head]
    values.append(_digit(values, first))
    values.append(_digit(values, second))
    return head + "".join(str(v) for v in values[-2:])


def _cpf(head: str) -> str:
    return _completed(head, range(10, 1, -1), range(11, 1, -1))


def _cnpj(head: str) -> str:
    return _completed(head, CNPJ_W1, CNPJ_W2)


CNPJ_W1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
CNPJ_W2 = [6, *CNPJ_W1]
DIGITS = "0123456789"
UPPER = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Near misses too: lowercase, other scripts' digits, a changed character.
NEAR = UPPER + "az\u0663\uff10 "  # Arabic-Indic three, fullwidth zero


@given(st.text(DIGITS, min_size=9, max_size=9), st.integers(0, 10), st.sampled_from(NEAR))
def test_the_cpf_check_digits_are_the_receitas(head: str, place: int, other: str) -> None:
    valid = _cpf(head)
    assert is_valid_cpf(valid) == (len(set(valid)) > 1)
    changed = valid[:place] + other + valid[place + 1 :]
    shaped = all(c in DIGITS for c in changed)
    expected = shaped and changed == _cpf(changed[:9])
    assert is_valid_cpf(changed) == (expected and len(set(changed)) > 1)


@given(st.text(UPPER, min_size=12, max_size=12), st.integers(0, 13), st.sampled_from(NEAR))
def test_the_cnpj_check_digits_are_the_receitas(head: str, place: int, other: str) -> None:
    valid = _cnpj(head)
    assert is_valid_cnpj(valid) == (len(set(valid)) > 1)
    changed = valid[:place] + other + valid[place + 1 :]
    shaped = all(c in UPPER for c in changed[:12]) and all(c in DIGITS for c in changed[12:])
    expected = shaped and changed == _cnpj(changed[:12])
    assert is_valid_cnpj(changed) == (expected and len(set(changed)) > 1)
