"""Operators: the people who run the PSP through the console (``connectpsp.console``).

They are not API clients: an operator signs in with an email and a password (kept as an
argon2id hash), holds a session, and everything it does is written to the audit log,
with what the subject looked like before and after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectpsp.domain.errors import FieldError, ValidationFailed

__all__ = [
    "EMAIL_MAX",
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "AuditEntry",
    "Operator",
    "valid_email",
    "valid_password",
]

EMAIL_MAX = 120  # what an infraction's decided_by and the audit log keep
PASSWORD_MIN = 12
PASSWORD_MAX = 1024  # argon2 takes any length; this bounds the work one login asks for
# Not RFC 5322: one @, no spaces or control characters, a dot in the domain.
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


@dataclass(frozen=True)
class Operator:
    id: str
    email: str  # lowercased: the login name
    password_hash: str
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One operator action: who, what, on what, when, and the subject before and after.
    An action is written ``started`` before it runs, then ``done`` or ``refused``: a crash
    in between leaves a row that says the action was tried."""

    id: int | None
    at: datetime
    operator_id: str | None  # None: not a signed-in operator (the CLI)
    operator_email: str  # or what the CLI says it is
    action: str  # e.g. infraction.accept, login
    subject_kind: str | None
    subject_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    outcome: str  # started | done | refused
    detail: str | None = None  # a refusal's reason
    source: str | None = None  # the address the request came from


def valid_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email) or not email.isprintable():
        raise ValidationFailed(
            [FieldError("email", f"must be an email address of at most {EMAIL_MAX} characters")]
        )
    return email


def valid_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValidationFailed(
            [FieldError("password", f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long")]
        )
    return password
