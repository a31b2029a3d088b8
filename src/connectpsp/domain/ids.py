"""Identifiers. Every id is generated here; a retry reuses the id it was sent with."""

from __future__ import annotations

import hashlib
import os
import secrets
import string
import uuid
from datetime import UTC, datetime

__all__ = [
    "derived_evp",
    "derived_id",
    "end_to_end_id",
    "new_id",
    "new_internal_code",
    "new_location_id",
    "new_secret",
    "ordered_id",
    "return_id",
]

_LETTERS = string.ascii_uppercase


def new_id() -> str:
    """A random UUID, as a string (clientId, and what is made a few at a time)."""
    return str(uuid.uuid4())


def ordered_id(at: datetime) -> str:
    """A UUID (version 7): ``at``'s Unix time in milliseconds, then 74 random bits
    (transactionId, transfers, decisions, webhook messages). Ids in time order are added
    at the end of their index, where random ones dirtied a page of it each, one that a
    large table no longer holds in memory."""
    return _uuid7((int(at.timestamp() * 1000) & _MILLIS) << 80, os.urandom(10))


_MILLIS = 0xFFFF_FFFF_FFFF


def _uuid7(millis: int, rand: bytes) -> str:
    """A version 7 UUID's text from its time field (shifted in place) and 80 random bits,
    of which it keeps 74."""
    bits = int.from_bytes(rand[:10])
    value = (
        millis | 0x7 << 76 | (bits >> 62 & 0xFFF) << 64 | 0b10 << 62 | bits & 0x3FFF_FFFF_FFFF_FFFF
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def derived_evp(seed: str) -> str:
    """An EVP key (a version 4 UUID in form) computed from ``seed``: the same request
    registers the same key, however often it is retried."""
    digest = hashlib.sha256(f"evp:{seed}".encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


def new_location_id() -> str:
    """A dynamic charge's location: 32 hex digits, short enough for a BR Code's field 26."""
    return uuid.uuid4().hex


def new_internal_code() -> str:
    """Ten uppercase letters, as in the seed ("IVKPRMOCDY"); uniqueness is the database's."""
    # One draw of 64 random bits, read as base-26 digits: 26**10 < 2**47, so the bias of
    # the remainder is below 2**-17, and the cost is one call to the OS, not ten.
    number = secrets.randbits(64)
    letters = []
    for _ in range(10):
        number, index = divmod(number, 26)
        letters.append(_LETTERS[index])
    return "".join(letters)


def new_secret(prefix: str = "", nbytes: int = 32) -> str:
    """A URL-safe random secret with an optional readable prefix ("whsec_...")."""
    return prefix + secrets.token_urlsafe(nbytes)


_NAMESPACE = uuid.UUID("8f1d6a52-3c1e-4b7e-9d55-2f0c6c1e7a10")


def derived_id(base: str, purpose: str) -> str:
    """A stable id computed from another (the fee transfer of a cash-out, the rail's
    idempotency key), so a retry or a restart finds the same one. From a version 7 id it
    is one too, of the same millisecond: it goes where its base went in an index. From
    any other (the ids made before, end-to-end ids) it is a version 5 UUID, as before."""
    if len(base) == 36 and base[14] == "7" and base[8] == "-":
        millis = int(base[:8] + base[9:13], 16) << 80
        digest = hashlib.sha256(f"{_NAMESPACE}:{base}:{purpose}".encode()).digest()
        return _uuid7(millis, digest)
    return str(uuid.uuid5(_NAMESPACE, f"{base}:{purpose}"))


_ALNUM = string.ascii_letters + string.digits


def end_to_end_id(ispb: str, moment: datetime, payment_id: str) -> str:
    """BCB's endToEndId: ``E`` + the payer's ISPB + ``yyyyMMddHHmm`` (UTC) + 11 alphanumeric
    characters; 32 in all. The tail is derived from our payment id, so every retry of one
    payment carries the same endToEndId."""
    return _pix_id("E", ispb, moment, payment_id)


def return_id(ispb: str, moment: datetime, return_of: str) -> str:
    """A returned Pix's own id (``rtrId``): ``D`` + the returner's ISPB + ``yyyyMMddHHmm``
    (UTC) + 11 alphanumeric characters, derived from ``return_of`` as an endToEndId is."""
    return _pix_id("D", ispb, moment, return_of)


def _pix_id(prefix: str, ispb: str, moment: datetime, seed: str) -> str:
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    tail = []
    for _ in range(11):
        digest, index = divmod(digest, len(_ALNUM))
        tail.append(_ALNUM[index])
    return f"{prefix}{ispb}{moment.astimezone(UTC):%Y%m%d%H%M}{''.join(tail)}"
