"""Verifying a dynamic code's location before paying it, as the payer's PSP.

Paying a dynamic BR Code: fetch its location (``26/25``) over https, read the answer's
JWS header (``jws_header``) to find the issuer's JWK Set (``domain.pix_location.
jwks_url_for``: the header's ``jku`` when it is on the location's origin, else the host's
``/.well-known/jwks.json``), fetch that, then ``verify_location`` and read the payload
(``read_location_payload``): its amount, key and expiry are what is paid. Both fetches go
to hosts a stranger chose: they must pass the webhooks' SSRF guard
(``webhook_http.AddressGuard``) and connect to the address it validated; that fetch is
not here. A kid the JWK Set lacks may be a key rotated in since it was cached: fetch the
set again once before giving up.

``verify_location`` pins the algorithm to RS256 or PS256 (never ``none`` or an HMAC,
whatever the header says), takes the key only from the JWK Set by the header's ``kid``,
refuses a key that does not match the algorithm, is shorter than 2048 bits, or carries
private parts, and refuses header extensions (``crit``, ``b64``). Errors are
``LocationError`` with a stable ``reason``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.api_jws import PyJWS

from connectpsp.domain.pix_location import LocationError

__all__ = ["ALGORITHMS", "jws_header", "verify_location"]

ALGORITHMS = ("RS256", "PS256")
_MAX_JWS = 64 * 1024
_MAX_KEYS = 100
_KEY_BITS = (2048, 8192)  # smaller is weak; larger costs a stranger's CPU for nothing
_B64URL = re.compile(r"[A-Za-z0-9_-]*", re.ASCII)
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def jws_header(jws: str) -> dict[str, Any]:
    """The JWS's protected header, UNVERIFIED: only to find the key that verifies it."""
    if not isinstance(jws, str) or len(jws) > _MAX_JWS:
        raise _malformed("is not a compact JWS of at most 64 KiB")
    parts = jws.split(".")
    if len(parts) != 3 or not all(_B64URL.fullmatch(part) for part in parts):
        raise _malformed("is not a compact JWS (three base64url parts)")
    header = _json_object(_b64decode(parts[0]), "header")
    if header is None:
        raise _malformed("has a header that is not a JSON object")
    return header


def verify_location(jws: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of ``jws``, once its signature verifies with the key its ``kid``
    names in ``jwks`` (the issuer's JWK Set); ``LocationError`` otherwise."""
    header = jws_header(jws)
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise LocationError(
            "ALGORITHM_NOT_ALLOWED",
            f"The location's JWS is signed with {_shown(algorithm)}; only RS256 and PS256 "
            "are accepted.",
        )
    if "crit" in header or "b64" in header:
        raise _malformed("uses header extensions (crit, b64) this verifier does not support")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise LocationError("UNKNOWN_KEY", "The location's JWS names no key (kid).")
    key = _public_key(_find(jwks, kid), algorithm)
    try:
        signed = _JWS.decode_complete(jws, key=key, algorithms=[algorithm])
    except jwt.InvalidSignatureError:
        raise LocationError(
            "BAD_SIGNATURE", "The location's JWS signature does not verify."
        ) from None
    except jwt.InvalidTokenError:
        raise _malformed("could not be read") from None
    payload = _json_object(signed["payload"], "payload")
    if payload is None:
        raise LocationError("BAD_PAYLOAD", "The location's payload is not a JSON object.")
    return payload


_JWS = PyJWS()


def _find(jwks: Mapping[str, Any], kid: str) -> Mapping[str, Any]:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or len(keys) > _MAX_KEYS:
        raise LocationError("BAD_KEY", "The issuer's JWK Set is not a list of at most 100 keys.")
    found = [k for k in keys if isinstance(k, Mapping) and k.get("kid") == kid]
    if not found:
        raise LocationError(
            "UNKNOWN_KEY", f"The issuer's JWK Set has no key {_shown(kid)}, which signed it."
        )
    if len(found) > 1:
        raise LocationError("BAD_KEY", f"The issuer's JWK Set has more than one key {kid!r}.")
    return found[0]


def _public_key(jwk: Mapping[str, Any], algorithm: str) -> rsa.RSAPublicKey:
    def refuse(problem: str) -> LocationError:
        return LocationError("BAD_KEY", f"The issuer's key {jwk.get('kid')!r} {problem}.")

    if jwk.get("kty") != "RSA":
        raise refuse("is not an RSA key")
    if any(member in jwk for member in _PRIVATE_MEMBERS):
        raise refuse("is published with its private parts: anyone could sign with it")
    if jwk.get("use", "sig") != "sig":
        raise refuse("is not for signatures (use)")
    if jwk.get("alg", algorithm) != algorithm:
        raise refuse(f"is for {_shown(jwk.get('alg'))}, not {algorithm}")
    operations = jwk.get("key_ops")
    if operations is not None and (not isinstance(operations, list) or "verify" not in operations):
        raise refuse("is not for verifying (key_ops)")
    modulus, exponent = _b64_int(jwk.get("n")), _b64_int(jwk.get("e"))
    if modulus is None or exponent is None:
        raise refuse("has no valid n and e")
    if not _KEY_BITS[0] <= modulus.bit_length() <= _KEY_BITS[1]:
        raise refuse("must be 2048 to 8192 bits")
    try:
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError:
        raise refuse("has invalid n and e") from None


def _b64_int(value: Any) -> int | None:
    if not isinstance(value, str) or not value or not _B64URL.fullmatch(value):
        return None
    raw = _b64decode(value)
    return int.from_bytes(raw, "big") if raw is not None else None


def _b64decode(part: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None


def _json_object(raw: bytes | None, what: str) -> dict[str, Any] | None:
    """A JSON object with no member twice (two ``alg`` or ``valor`` would be read one
    way here and maybe another way elsewhere); None if ``raw`` is not one."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) != len(pairs):
            raise LocationError(
                "MALFORMED_JWS" if what == "header" else "BAD_PAYLOAD",
                f"The location's JWS {what} repeats a member.",
            )
        return found

    if raw is None:
        return None
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=unique)
    except LocationError:
        raise
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        return None
    return value if isinstance(value, dict) else None


def _malformed(problem: str) -> LocationError:
    return LocationError("MALFORMED_JWS", f"The location's answer {problem}.")


def _shown(value: Any) -> str:
    """A value from a stranger's header, short and printable, for a message."""
    return repr(value)[:40] if isinstance(value, str) else "no algorithm"
