"""Access tokens, and the three checks on every client request: Bearer token,
ApplicationToken and (for cash-outs) DigitalSignature.

A token names the clientSecret it was issued for: its ``SECRET_CLAIM`` is a fingerprint
of that secret's stored hash. Once the secret is rotated (a leak is the usual reason),
the tokens issued for the old one are refused as the old secret is: at once in the
process that rotated it, in others at their next look at the clients' changes
(``follow_changes``, every ``CLIENT_CHANGES_EVERY``). A fingerprint, not
the time it was issued: ``iat`` counts whole seconds, so a token issued in the second of
the rotation would be ambiguous. A token without the claim is refused."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from connectpsp.domain.clients import Client
from connectpsp.domain.errors import (
    InvalidApplicationToken,
    InvalidCredentials,
    InvalidSignature,
    Unauthorized,
)
from connectpsp.service.clients import crypto_context, token_digest
from connectpsp.service.ports import Cipher, SecretHasher, UnitOfWorkFactory
from connectpsp.service.ratelimit import TokenThrottle, scope_of

__all__ = [
    "SECRET_CLAIM",
    "AuthService",
    "Caller",
    "TokenCodec",
    "issued_for",
    "secret_fingerprint",
    "signature_for",
]

# How long an active client's record (tokens' digests, limits, fees) is trusted from
# memory at most. In the process that changed it, a change takes effect at once
# (``forget``); in the others, at their next look at the changes' number, every
# ``CLIENT_CHANGES_EVERY`` (``follow_changes``), and this bounds it should the looks
# fail. A disabled client is never remembered, so enabling it takes effect at once.
CLIENT_CACHE_SECONDS = 30.0
CLIENT_CHANGES_EVERY = 1.0


# The access token's claim naming the clientSecret it was issued for (a name, no secret).
SECRET_CLAIM = "csf"  # noqa: S105


class TokenCodec(Protocol):
    def issue(self, subject: str, extra: Mapping[str, str] | None = None) -> tuple[str, int]: ...
    def decode(self, token: str) -> dict[str, object]: ...


def secret_fingerprint(secret_hash: str) -> str:
    """What a token carries of the clientSecret it was issued for: a digest of its stored
    hash (salted, so a new secret always differs), which tells nothing of the secret."""
    return hashlib.sha256(secret_hash.encode()).hexdigest()[:16]


def issued_for(client: Client, claims: Mapping[str, object]) -> bool:
    """Whether a token's ``claims`` were issued for ``client``'s current clientSecret."""
    given = str(claims[SECRET_CLAIM])  # ``_claims`` checked that it is a string
    return hmac.compare_digest(given.encode(), secret_fingerprint(client.secret_hash).encode())


def signature_for(access_token: str, crypto_token: str) -> str:
    """The DigitalSignature: lowercase hex HMAC-SHA256 of the exact token string."""
    return hmac.new(crypto_token.encode(), access_token.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Caller:
    """An authenticated request: the client and the token it presented."""

    client: Client
    access_token: str


class AuthService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        hasher: SecretHasher,
        cipher: Cipher,
        tokens: TokenCodec,
        throttle: TokenThrottle,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._cipher = cipher
        self._tokens = tokens
        self._throttle = throttle
        self._clients: dict[str, tuple[float, Client]] = {}
        self._crypto_tokens: dict[str, tuple[str, str]] = {}  # id -> (encrypted, plain)
        self._lock = threading.Lock()
        self._forgets = 0  # a read that began before a forget must not be remembered
        self._generation: int | None = None  # the changes' number at the last look

    def issue_token(self, client_id: str, client_secret: str, ip: str) -> tuple[str, int]:
        # Refused before any argon2 work: a throttled address costs us a query at most.
        scope = scope_of(client_id, ip)
        self._throttle.check(scope)
        with self._uow() as uow:  # the API refuses a NUL or control character first
            client = uow.clients.get(client_id)
        # Verify against a dummy hash for unknown clients too, so timing does not tell
        # which clientIds exist.
        stored = client.secret_hash if client else _DUMMY_HASH
        valid = self._hasher.verify(stored, client_secret) and client is not None
        if not valid or client is None or not client.active:
            self._throttle.failed(scope)
            # Only a caller that knows the secret learns that the client is disabled.
            raise InvalidCredentials(_DISABLED if valid else None)
        self._throttle.succeeded(scope)
        return self._tokens.issue(client_id, {SECRET_CLAIM: secret_fingerprint(client.secret_hash)})

    def authenticate(self, authorization: str | None, application_token: str | None) -> Caller:
        token, claims = self._claims(authorization)
        subject = str(claims["sub"])
        client = self._remembered(subject)
        if client is not None and not issued_for(client, claims):
            client = None  # its secret may have been rotated by another process: read it
        if client is None:
            forgets = self._forgets
            with self._uow() as uow:
                client = uow.clients.get(subject)
            # A disabled client is not remembered: enabling it shows at once everywhere.
            if client is not None and client.active:
                with self._lock:
                    if forgets == self._forgets:
                        expires = time.monotonic() + CLIENT_CACHE_SECONDS
                        self._clients[subject] = (expires, client)
        return self._caller(client, token, claims, application_token)

    def forget(self, client_id: str) -> None:
        """Drop what is remembered of a client whose record changed (disabled, enabled):
        its next request reads it afresh. A new clientSecret is such a change."""
        with self._lock:
            self._forgets += 1
            self._clients.pop(client_id, None)

    def follow_changes(self) -> bool:
        """Forget every remembered client if any client's record changed since the last
        look, in any process (the changes' number moved); whether it did. The first
        look forgets too: a change may have come between a read and it."""
        with self._uow() as uow:
            generation = uow.clients.generation()
        with self._lock:
            changed = generation != self._generation
            self._generation = generation
            if changed:
                self._forgets += 1
                self._clients.clear()
        return changed

    def authenticate_from_memory(
        self, authorization: str | None, application_token: str | None
    ) -> Caller | None:
        """``authenticate`` without touching the database: None if the client has not
        been seen in the last ``CLIENT_CACHE_SECONDS``, or if the token names another
        clientSecret than the remembered one (``authenticate`` reads the client then)."""
        token, claims = self._claims(authorization)
        client = self._remembered(str(claims["sub"]))
        if client is None or not issued_for(client, claims):
            return None
        return self._caller(client, token, claims, application_token)

    def _claims(self, authorization: str | None) -> tuple[str, dict[str, object]]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized()
        token = token.strip()
        claims = self._tokens.decode(token)
        if not all(isinstance(claims.get(name), str) for name in ("sub", SECRET_CLAIM)):
            raise Unauthorized("The access token is invalid.")
        return token, claims

    def _remembered(self, client_id: str) -> Client | None:
        found = self._clients.get(client_id)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    @staticmethod
    def _caller(
        client: Client | None,
        token: str,
        claims: Mapping[str, object],
        application_token: str | None,
    ) -> Caller:
        if client is None:
            raise Unauthorized("The access token's client no longer exists.")
        if not client.active:
            raise Unauthorized(_DISABLED)
        if not issued_for(client, claims):
            raise Unauthorized(_ROTATED)
        given = token_digest(application_token or "")
        if not application_token or not hmac.compare_digest(given, client.app_token_hash):
            raise InvalidApplicationToken()
        return Caller(client, token)

    def check_signature(self, caller: Caller, signature: str | None) -> None:
        client = caller.client
        # Decrypted once per stored value: a new cryptoToken is a new ciphertext.
        known = self._crypto_tokens.get(client.id)
        if known is not None and known[0] == client.crypto_token_enc:
            crypto_token = known[1]
        else:
            crypto_token = self._cipher.decrypt(
                client.crypto_token_enc, context=crypto_context(client.id)
            )
            self._crypto_tokens[client.id] = (client.crypto_token_enc, crypto_token)
        expected = signature_for(caller.access_token, crypto_token)
        given = (signature or "").strip()
        # compare_digest refuses non-ASCII text; such a header is simply not the signature.
        if not given.isascii() or not hmac.compare_digest(expected, given):
            raise InvalidSignature()


_DISABLED = "This client is disabled; the PSP's operator may enable it again."
_ROTATED = (
    "The access token was issued for a clientSecret that has since been replaced; "
    "ask POST /auth/token for a new one with the new secret."
)

# argon2id of a random string nobody knows; only its verification time matters.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$"
    "RdescudvJCsgt3ub+b+dWRWJTmaaJObG0dH7S/8Kxh0"
)
