"""Brazilian tax ids: CPF (people) and CNPJ (companies), including the alphanumeric
CNPJ in force since July 2026 (12 characters of [0-9A-Z], then 2 check digits whose
weights apply to each character's ASCII code minus 48).
"""

from __future__ import annotations

import re
from enum import StrEnum
from operator import mul

__all__ = ["DocumentType", "document_type", "is_valid_cnpj", "is_valid_cpf", "mask_document"]

_CPF_RE = re.compile(r"^[0-9]{11}$")
_CNPJ_RE = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")
_CPF_W1 = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_CPF_W2 = (11, 10, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_W1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_W2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


class DocumentType(StrEnum):
    CPF = "CPF"
    CNPJ = "CNPJ"

    @property
    def person_type(self) -> str:
        """BCB's DICT terms: a CPF owner is a natural person, a CNPJ owner a legal one."""
        return "NATURAL_PERSON" if self is DocumentType.CPF else "LEGAL_PERSON"


def _check_digit(codes: bytes, weights: tuple[int, ...]) -> int:
    """The check digit over the first ``len(weights)`` characters, each worth its ASCII
    code less 48 (a digit's value): the sum of code times weight, less 48 times the
    weights' sum, in one pass in C (every cash-out checks two documents on the event
    loop)."""
    remainder = (sum(map(mul, codes, weights)) - 48 * sum(weights)) % 11
    return 0 if remainder < 2 else 11 - remainder


def is_valid_cpf(text: str) -> bool:
    if not _CPF_RE.match(text) or text == text[0] * 11:
        return False
    codes = text.encode()  # ASCII digits, by the pattern
    first, second = _check_digit(codes, _CPF_W1), _check_digit(codes, _CPF_W2)
    return codes[9] - 48 == first and codes[10] - 48 == second


def is_valid_cnpj(text: str) -> bool:
    if not _CNPJ_RE.match(text) or text == text[0] * 14:
        return False
    codes = text.encode()  # ASCII, by the pattern
    first, second = _check_digit(codes, _CNPJ_W1), _check_digit(codes, _CNPJ_W2)
    return codes[12] - 48 == first and codes[13] - 48 == second


def document_type(text: str) -> DocumentType:
    """The type of a valid document; ``ValueError`` (user-facing) if it is neither."""
    if len(text) == 11 and is_valid_cpf(text):
        return DocumentType.CPF
    if len(text) == 14 and is_valid_cnpj(text):
        return DocumentType.CNPJ
    if len(text) == 11:
        raise ValueError("is not a valid CPF (check digits do not match)")
    if len(text) == 14:
        raise ValueError("is not a valid CNPJ (check digits do not match)")
    raise ValueError("must be a CPF (11 digits) or a CNPJ (14 characters), without punctuation")


def mask_document(text: str) -> str:
    """Show only the middle of a document: CPF ***.456.789-**, CNPJ **.345.678/0001-**."""
    if len(text) == 11:
        return f"***.{text[3:6]}.{text[6:9]}-**"
    if len(text) == 14:
        return f"**.{text[2:5]}.{text[5:8]}/{text[8:12]}-**"
    return "*" * len(text)
