"""Pix key types and their validation, following BCB's DICT rules."""

from __future__ import annotations

import re
from enum import StrEnum

from connectpsp.domain.documents import is_valid_cnpj, is_valid_cpf

__all__ = ["AccountType", "PixKeyType", "validate_pix_key"]

# DICT's e-mail pattern, lowercase only, at most 77 characters.
_EMAIL_RE = re.compile(
    r"^[a-z0-9.!#$&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_PHONE_RE = re.compile(r"^\+55[0-9]{10,11}$")
_EVP_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class PixKeyType(StrEnum):
    CPF = "CPF"
    CNPJ = "CNPJ"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    EVP = "EVP"


class AccountType(StrEnum):
    """Account types accepted for a bank-account destination (DICT: CACC, SVGS, TRAN, SLRY)."""

    CHECKING = "CHECKING"
    SAVINGS = "SAVINGS"
    PAYMENT = "PAYMENT"
    SALARY = "SALARY"


def validate_pix_key(key_type: PixKeyType, key: str) -> None:
    """Raise ``ValueError`` (user-facing) if ``key`` is not a valid key of ``key_type``."""
    if key_type is PixKeyType.CPF:
        if not is_valid_cpf(key):
            raise ValueError("must be a valid CPF: 11 digits, no punctuation")
    elif key_type is PixKeyType.CNPJ:
        if not is_valid_cnpj(key):
            raise ValueError("must be a valid CNPJ: 14 characters, no punctuation")
    elif key_type is PixKeyType.EMAIL:
        if len(key) > 77 or not _EMAIL_RE.match(key):
            raise ValueError("must be a lowercase e-mail address of at most 77 characters")
    elif key_type is PixKeyType.PHONE:
        if not _PHONE_RE.match(key):
            raise ValueError("must be +55 followed by 10 or 11 digits, e.g. +5511987654321")
    elif key_type is PixKeyType.EVP and not _EVP_RE.match(key):
        raise ValueError("must be a lowercase UUID, e.g. 123e4567-e89b-42d3-a456-426614174000")
