"""Signing what dynamic codes' locations serve (``GET /qr/{locationId}``), and publishing
the keys that verify it (``GET /.well-known/jwks.json``).

BCB's API Pix: a location answers ``application/jose``, a compact JWS whose payload is
the charge (``domain/pix_location.py``); the payer's PSP verifies it before paying. The
header follows BCB's own examples (the API Pix's and its sandbox's):
``{"alg": "RS256", "jku": <our JWKS>, "kid": <key id>, "typ": "JWS"}``.

- **RS256**, not PS256: BCB's examples and its own sandbox location sign RS256, so every
  payer's app that was tested against BCB accepts it; it is also deterministic (the same
  payload and key give the same bytes). PKCS#1 v1.5 signatures have no practical forgery
  with e = 65537 and a strict verifier. The verifier (``location_verify``) accepts both.
- **RSA 2048**: 112-bit security, which NIST accepts through 2030, for signatures that
  matter only while a payer looks at them (each answer is signed when it is fetched) and
  a key that can be rotated. 3072 bits would cost 3x the CPU on every fetch of an
  unauthenticated route (0.5 ms -> 1.5 ms a signature here) and 0.4 s or more to make a
  key (70 ms at 2048), for a margin these short-lived signatures do not need.
- ``kid`` is the public key's RFC 7638 thumbprint: it names the key, whoever stored it.
- Deviation from BCB: no ``x5t#S256``/``x5c``. BCB binds the key to an ICP-Brasil
  certificate for the PSP's domain; a sandbox has none. Trust here rests on the HTTPS of
  the host serving the JWKS (``CONNECTPSP_PUBLIC_URL``), the location's own host.

Keys are stored encrypted under the master key (context ``location-key:<kid>``), like the
access-token keys; the first start makes one. ``rotate`` publishes a new key at once, and
it starts signing only ``PUBLISH_BEFORE_SIGNING`` later, once every process and every
cache of the JWKS has seen it; the old key signs until then, and stays published for
``PUBLISHED_AFTER_RETIREMENT`` more, for what it signed just before.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.api_jws import PyJWS

from connectpsp.domain.clock import Clock
from connectpsp.service.ports import Cipher, LocationKeyStore, StoredLocationKey

__all__ = [
    "KEY_BITS",
    "PUBLISHED_AFTER_RETIREMENT",
    "PUBLISH_BEFORE_SIGNING",
    "SIGNING_ALGORITHM",
    "LocationKeyring",
    "public_jwk",
    "thumbprint",
]

SIGNING_ALGORITHM = "RS256"
KEY_BITS = 2048
# Longer than the JWKS route's max-age (5 minutes) plus this process's reload (1 minute).
PUBLISH_BEFORE_SIGNING = timedelta(minutes=10)
PUBLISHED_AFTER_RETIREMENT = timedelta(days=1)
_RELOAD = timedelta(minutes=1)  # another process's rotation is seen within this
_JWS = PyJWS()


@dataclass(frozen=True)
class _Key:
    kid: str
    created_at: datetime
    retired_at: datetime | None
    private: rsa.RSAPrivateKey
    jwk: dict[str, str]

    def signs_at(self, now: datetime) -> bool:
        return self.retired_at is None or self.retired_at > now


class LocationKeyring:
    """The location signing keys, kept decrypted in memory and reloaded every minute."""

    def __init__(
        self, store: LocationKeyStore, *, cipher: Cipher, clock: Clock, jwks_url: str
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._clock = clock
        self._jwks_url = jwks_url
        self._lock = threading.Lock()
        self._keys: list[_Key] = []
        self._loaded_at: datetime | None = None

    def ensure_key(self) -> None:
        """Make the first key if there is none (once, whichever process asks first)."""
        if not self._store.all():
            self._store.add_first(self._new_key())
        self._reload()

    def rotate(self) -> str:
        """Make a new key, which signs from ``PUBLISH_BEFORE_SIGNING`` on; its kid."""
        key = self._new_key()
        self._store.rotate(key, retire_at=key.created_at + PUBLISH_BEFORE_SIGNING)
        self._reload()
        return key.kid

    def sign(self, payload: dict[str, Any]) -> str:
        now = self._clock.now()
        key = _signing_key(self._current(now), now)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"kid": key.kid, "typ": "JWS", "jku": self._jwks_url}
        return _JWS.encode(body, key.private, algorithm=SIGNING_ALGORITHM, headers=headers)

    def jwks(self) -> dict[str, Any]:
        now = self._clock.now()
        oldest = now - PUBLISHED_AFTER_RETIREMENT
        return {
            "keys": [
                dict(k.jwk)
                for k in self._current(now)
                if k.retired_at is None or k.retired_at > oldest
            ]
        }

    def _current(self, now: datetime) -> list[_Key]:
        with self._lock:
            stale = self._loaded_at is None or now - self._loaded_at >= _RELOAD
        if stale:
            self._reload()
        return self._keys

    def _reload(self) -> None:
        known = {k.kid: k for k in self._keys}
        keys = []
        for stored in self._store.all():
            parsed = known.get(stored.kid)
            private = parsed.private if parsed else self._decrypt(stored)
            jwk = parsed.jwk if parsed else public_jwk(private.public_key(), stored.kid)
            keys.append(_Key(stored.kid, stored.created_at, stored.retired_at, private, jwk))
        with self._lock:
            self._keys = keys
            self._loaded_at = self._clock.now()

    def _decrypt(self, stored: StoredLocationKey) -> rsa.RSAPrivateKey:
        pem = self._cipher.decrypt(stored.private_key_enc, context=f"location-key:{stored.kid}")
        # The key is our own, and the cipher authenticated it: validating the RSA key
        # again cost every process 30 ms at start (cryptography's own advice).
        key = serialization.load_pem_private_key(
            pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
        )
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"location key {stored.kid} is not an RSA key")
        return key

    def _new_key(self) -> StoredLocationKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        kid = thumbprint(private.public_key())
        sealed = self._cipher.encrypt(pem, context=f"location-key:{kid}")
        return StoredLocationKey(kid, sealed, self._clock.now())


def _signing_key(keys: list[_Key], now: datetime) -> _Key:
    """The newest key published long enough ago; at the very first, the one there is."""
    signing = [k for k in keys if k.signs_at(now)]
    if not signing:
        raise RuntimeError("no location signing key: ensure_key() was not called")
    ready = [k for k in signing if k.created_at <= now - PUBLISH_BEFORE_SIGNING]
    # In a tie of times, a key on its way out is the older one.
    if ready:
        return max(ready, key=lambda k: (k.created_at, k.retired_at is None))
    return min(signing, key=lambda k: (k.created_at, k.retired_at is None))


def public_jwk(key: rsa.RSAPublicKey, kid: str) -> dict[str, str]:
    numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": SIGNING_ALGORITHM,
        "n": _b64_int(numbers.n),
        "e": _b64_int(numbers.e),
    }


def thumbprint(key: rsa.RSAPublicKey) -> str:
    """RFC 7638: SHA-256 of the required members, in order, without whitespace."""
    numbers = key.public_numbers()
    members = {"e": _b64_int(numbers.e), "kty": "RSA", "n": _b64_int(numbers.n)}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _b64_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
