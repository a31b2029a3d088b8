"""Every error ConnectPSP raises on purpose. Each carries a stable UPPER_SNAKE ``code``;
HTTP statuses are assigned in ``connectpsp.api`` only.

ConnectPSPError
├── AuthError
│   ├── InvalidCredentials          INVALID_CREDENTIALS
│   ├── Unauthorized                UNAUTHORIZED
│   ├── TokenExpired                TOKEN_EXPIRED
│   ├── InvalidApplicationToken     INVALID_APPLICATION_TOKEN
│   └── InvalidSignature            INVALID_SIGNATURE
├── RateLimited                     RATE_LIMITED
├── ValidationFailed                VALIDATION_ERROR
│   └── PlaceholderUrl              PLACEHOLDER_URL
├── IdempotencyKeyRequired          IDEMPOTENCY_KEY_REQUIRED
├── IdempotencyKeyMismatch          IDEMPOTENCY_KEY_MISMATCH
├── IdempotencyKeyInUse             IDEMPOTENCY_KEY_IN_USE
├── DuplicateExternalReference      DUPLICATE_EXTERNAL_REFERENCE
├── InsufficientBalance             INSUFFICIENT_BALANCE
├── LimitExceeded                   LIMIT_EXCEEDED
├── FraudSuspected                  FRAUD_SUSPECTED
├── PixKeyAlreadyRegistered         PIX_KEY_ALREADY_REGISTERED
├── InvalidBrCode                   INVALID_BRCODE
├── EndpointDisabled                WEBHOOK_ENDPOINT_DISABLED
├── NotFound                        NOT_FOUND
├── IllegalTransition               ILLEGAL_TRANSITION
├── LedgerViolation                 LEDGER_VIOLATION
└── StorageUnavailable              SERVICE_UNAVAILABLE
    ├── StorageConflict             SERVICE_UNAVAILABLE
    └── SchemaNotCurrent            DATABASE_NOT_MIGRATED
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AuthError",
    "ConnectPSPError",
    "DuplicateExternalReference",
    "EndpointDisabled",
    "FieldError",
    "FraudSuspected",
    "IdempotencyKeyInUse",
    "IdempotencyKeyMismatch",
    "IdempotencyKeyRequired",
    "IllegalTransition",
    "InsufficientBalance",
    "InvalidApplicationToken",
    "InvalidBrCode",
    "InvalidCredentials",
    "InvalidSignature",
    "LedgerViolation",
    "LimitExceeded",
    "NotFound",
    "PixKeyAlreadyRegistered",
    "PlaceholderUrl",
    "RateLimited",
    "SchemaNotCurrent",
    "StorageConflict",
    "StorageUnavailable",
    "TokenExpired",
    "Unauthorized",
    "ValidationFailed",
]


@dataclass(frozen=True)
class FieldError:
    """One bad field: a dotted path into the request ("payee.document") and why."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ConnectPSPError(Exception):
    code: ClassVar[str] = "INTERNAL_ERROR"
    default_message: ClassVar[str] = "An unexpected error occurred."

    def __init__(self, message: str | None = None, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class AuthError(ConnectPSPError):
    pass


class InvalidCredentials(AuthError):
    code = "INVALID_CREDENTIALS"
    default_message = "clientId or clientSecret is wrong."


class Unauthorized(AuthError):
    code = "UNAUTHORIZED"
    default_message = "A valid 'Authorization: Bearer <accessToken>' header is required."


class TokenExpired(AuthError):
    code = "TOKEN_EXPIRED"
    default_message = "The access token has expired; request a new one at POST /auth/token."


class InvalidApplicationToken(AuthError):
    code = "INVALID_APPLICATION_TOKEN"
    default_message = "The ApplicationToken header is missing or does not belong to this client."


class InvalidSignature(AuthError):
    code = "INVALID_SIGNATURE"
    default_message = (
        "The DigitalSignature header must be the lowercase hex HMAC-SHA256 of the access "
        "token, keyed with your cryptoToken."
    )


class RateLimited(ConnectPSPError):
    code = "RATE_LIMITED"
    default_message = "Too many failed attempts; wait before trying again."

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ValidationFailed(ConnectPSPError):
    code = "VALIDATION_ERROR"
    default_message = "The request is invalid."

    def __init__(self, errors: list[FieldError], message: str | None = None) -> None:
        fields = ", ".join(e.field for e in errors)
        super().__init__(message or f"Invalid fields: {fields}.", [e.as_dict() for e in errors])
        self.errors = errors


class PlaceholderUrl(ValidationFailed):
    """A webhook URL whose host is a documentation placeholder (``YOUR_DOMAIN``), refused
    in the sandbox rather than retried for a day: its own code, so a pasted example that
    was not filled in is told so plainly."""

    code = "PLACEHOLDER_URL"


class IdempotencyKeyRequired(ConnectPSPError):
    code = "IDEMPOTENCY_KEY_REQUIRED"
    default_message = "The X-Idempotency-Key header is required (a UUID is a good choice)."


class IdempotencyKeyMismatch(ConnectPSPError):
    code = "IDEMPOTENCY_KEY_MISMATCH"
    default_message = "This X-Idempotency-Key was already used with a different request body."


class IdempotencyKeyInUse(ConnectPSPError):
    code = "IDEMPOTENCY_KEY_IN_USE"
    default_message = "A request with this X-Idempotency-Key is still being processed; retry."


class DuplicateExternalReference(ConnectPSPError):
    code = "DUPLICATE_EXTERNAL_REFERENCE"
    default_message = "A cash-out with this externalReference already exists."


class InsufficientBalance(ConnectPSPError):
    code = "INSUFFICIENT_BALANCE"
    default_message = "The available balance does not cover the amount plus fee."


class LimitExceeded(ConnectPSPError):
    code = "LIMIT_EXCEEDED"
    default_message = "This cash-out would exceed the client's daily limit."


class FraudSuspected(ConnectPSPError):
    """A fraud check refused the cash-out. The answer says nothing of which, on purpose:
    the decision, with every check and its inputs, is recorded for the operator."""

    code = "FRAUD_SUSPECTED"
    default_message = "The cash-out was refused by a fraud check."


class InvalidBrCode(ConnectPSPError):
    """A BR Code that ``connectpsp.brcode.decode`` refuses; ``details`` is
    ``{"reason", "field"}``, the codec's stable reason and the field's ID (or None)."""

    code = "INVALID_BRCODE"
    default_message = "The BR Code is invalid."


class PixKeyAlreadyRegistered(ConnectPSPError):
    code = "PIX_KEY_ALREADY_REGISTERED"
    default_message = "This Pix key is already registered in the sandbox DICT."


class EndpointDisabled(ConnectPSPError):
    """Nothing more is sent to a webhook endpoint that answered 410 or was deleted."""

    code = "WEBHOOK_ENDPOINT_DISABLED"
    default_message = (
        "This delivery's endpoint is disabled (it answered 410 Gone) or deleted; nothing "
        "more is sent to it. Register the URL again."
    )


class NotFound(ConnectPSPError):
    code = "NOT_FOUND"
    default_message = "Not found."


class IllegalTransition(ConnectPSPError):
    code = "ILLEGAL_TRANSITION"
    default_message = "That status change is not allowed."


class LedgerViolation(ConnectPSPError):
    code = "LEDGER_VIOLATION"
    default_message = "The ledger refused a transfer that breaks its rules."


class StorageUnavailable(ConnectPSPError):
    code = "SERVICE_UNAVAILABLE"
    default_message = "The database is unreachable; the request was not processed. Retry later."


class StorageConflict(StorageUnavailable):
    """A concurrent writer got there first (a unique key, a deadlock): nothing was
    written, and the same transaction run again sees what the other one did."""

    default_message = "A concurrent request got in the way; nothing was done. Retry."


class SchemaNotCurrent(StorageUnavailable):
    """The database answers, but is not at this version's newest migration: never
    migrated, behind (restored from an old backup), or ahead (a newer version migrated it)."""

    code = "DATABASE_NOT_MIGRATED"
    default_message = (
        "The database is not at the schema this version of ConnectPSP needs: run "
        "`connectpsp migrate`, or run a ConnectPSP at least as new as the database."
    )
