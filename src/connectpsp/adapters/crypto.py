"""Secrets at rest and access tokens.

- Client secrets are hashed with argon2id.
- Secrets ConnectPSP must use later (cryptoToken, webhook secret, JWT signing keys) are
  encrypted with AES-256-GCM under the master key, bound to what they belong to.
- Access tokens are HS256 JWTs; verification pins the algorithm and requires every claim.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import TokenExpired, Unauthorized

__all__ = ["AesGcmCipher", "Argon2Hasher", "JwtCodec"]

_ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "iss", "aud", "iat", "exp", "jti"]
# Tokens verified already, by their exact text: a client sends one token for an hour,
# so its signature and claims are checked once, and only its expiry on every request.
_VERIFIED_TOKENS = 10_000


class Argon2Hasher:
    """argon2id with the library's (RFC 9106 low-memory) parameters unless told otherwise;
    tests that create thousands of clients pass a cheaper ``time_cost``/``memory_cost``."""

    def __init__(self, *, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, stored: str, secret: str) -> bool:
        try:
            return self._hasher.verify(stored, secret)
        except (VerificationError, InvalidHashError):
            return False


class AesGcmCipher:
    """``v1.<base64(nonce || ciphertext)>``; the context is authenticated, not stored."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(master_key)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        version, _, blob = ciphertext.partition(".")
        if version != "v1":
            raise ValueError("unknown ciphertext version")
        raw = base64.urlsafe_b64decode(blob)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()


class JwtCodec:
    """Issues and verifies access tokens. ``keys`` maps key id -> secret; the newest
    key signs, all verify; ``reload`` is asked for keys when a token names an unknown
    one (another process made a new key)."""

    def __init__(
        self,
        keys: dict[str, bytes],
        *,
        issuer: str,
        audience: str,
        ttl: timedelta,
        clock: Clock,
        reload: Callable[[], dict[str, bytes]] | None = None,
    ) -> None:
        if not keys:
            raise ValueError("at least one signing key is required")
        self._keys = dict(keys)
        self._active = max(self._keys)
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._clock = clock
        self._reload = reload
        self._verified: dict[str, dict[str, Any]] = {}

    def issue(self, subject: str, extra: Mapping[str, str] | None = None) -> tuple[str, int]:
        """A token for ``subject``; ``extra`` claims ride along, never replacing ours."""
        now = self._clock.now()
        claims = {
            **(extra or {}),
            "sub": subject,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": int(now.timestamp()),
            "exp": int((now + self.ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(
            claims, self._keys[self._active], algorithm=_ALGORITHM, headers={"kid": self._active}
        )
        return token, int(self.ttl.total_seconds())

    def decode(self, token: str) -> dict[str, Any]:
        """The verified claims; ``TokenExpired`` or ``Unauthorized`` otherwise."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= _VERIFIED_TOKENS:
                self._verified.clear()  # cheaper than an LRU; a miss only costs a check
            self._verified[token] = claims
        if claims["exp"] <= self._clock.now().timestamp():
            raise TokenExpired()
        return claims

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthorized("The access token is malformed.") from None
        if header.get("alg") != _ALGORITHM:
            raise Unauthorized("The access token uses an algorithm this server does not accept.")
        key = self._key_for(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # Expiry is checked below against our clock, not PyJWT's wall clock.
                options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError:
            raise Unauthorized("The access token is invalid.") from None
        expires = claims["exp"]
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise Unauthorized("The access token is invalid.")
        return claims

    def _key_for(self, kid: Any) -> bytes:
        if not isinstance(kid, str):
            raise Unauthorized("The access token names no signing key.")
        if kid not in self._keys and self._reload is not None:
            self._keys.update(self._reload())
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("The access token is invalid.")
        return key
