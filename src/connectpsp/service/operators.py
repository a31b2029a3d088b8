"""The console's people (``domain.operators``): creating them, signing them in and out,
their sessions, and the audit log of everything they do.

A session is a random 256-bit token held in the browser's cookie; the database keeps
only its SHA-256, so a copy of the database opens no session. It ends at logout, after
``IDLE`` without a request, or ``LIFETIME`` after it began, whichever comes first. Each
session has a CSRF token of its own, derived from it (an HMAC under the session token),
that every form carries back.

Logins are throttled as token requests are (``service.ratelimit``), under keys of their
own: failures per (email, address) and per address, in the same sliding window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import (
    ConnectPSPError,
    IllegalTransition,
    InvalidCredentials,
    NotFound,
    StorageConflict,
)
from connectpsp.domain.ids import new_id
from connectpsp.domain.operators import (
    PASSWORD_MAX,
    AuditEntry,
    Operator,
    valid_email,
    valid_password,
)
from connectpsp.service.ports import SecretHasher
from connectpsp.service.ratelimit import Scope, TokenThrottle, scope_of

__all__ = ["IDLE", "LIFETIME", "OperatorStore", "Operators", "SignedIn", "csrf_matches"]

LIFETIME = timedelta(hours=8)
IDLE = timedelta(hours=1)
_TOUCH_EVERY = timedelta(minutes=1)  # a session's last use is written at most this often
T = TypeVar("T")


class OperatorStore(Protocol):
    """Operators, their sessions (by the token's digest) and the audit log. Each call is
    one transaction of its own."""

    def add(self, operator: Operator) -> None:
        """Raises ``StorageConflict`` if the email is taken."""
        ...

    def by_email(self, email: str) -> Operator | None: ...

    def listed(self) -> list[Operator]: ...

    def set_active(self, operator_id: str, active: bool) -> None:
        """Disabling also closes the operator's sessions, in the same transaction."""
        ...

    def open_session(
        self, digest: str, operator_id: str, *, now: datetime, expires_at: datetime
    ) -> None: ...

    def session(self, digest: str) -> tuple[Operator, datetime, datetime] | None:
        """The session's operator, its last use and its end."""
        ...

    def touch_session(self, digest: str, now: datetime) -> None: ...

    def close_session(self, digest: str) -> None: ...

    def close_sessions(self, *, idle_since: datetime, begun_before: datetime) -> int:
        """Close the sessions unused since ``idle_since`` or opened before
        ``begun_before``; how many."""
        ...

    def audit(self, entry: AuditEntry) -> int:
        """Write ``entry``; its id."""
        ...

    def audit_outcome(
        self, entry_id: int, outcome: str, after: dict[str, Any] | None, detail: str | None
    ) -> None: ...

    def audit_log(self, *, limit: int, before_id: int | None = None) -> list[AuditEntry]:
        """Newest first; with ``before_id``, the entries older than that one."""
        ...


@dataclass(frozen=True)
class SignedIn:
    """An operator in an open session: ``token`` is the cookie's value."""

    operator: Operator
    token: str

    @property
    def csrf(self) -> str:
        return hmac.new(self.token.encode(), b"connectpsp-console-csrf", "sha256").hexdigest()


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time: a wrong token takes as long to refuse whatever its prefix."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login_scope(email: str, source: str) -> Scope:
    """The token throttle's keys, prefixed: console failures never count against an API
    client's token requests from the same address, nor theirs against a login."""
    scope = scope_of(email, source)
    return Scope(pair="op" + scope.pair, source="op" + scope.source)


class Operators:
    def __init__(
        self,
        store: OperatorStore,
        *,
        hasher: SecretHasher,
        clock: Clock,
        throttle: TokenThrottle,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._throttle = throttle
        self._decoy: str | None = None

    # --- the CLI: operators create, operators list --------------------------------------

    def create(self, email: str, password: str, *, by: str = "cli") -> Operator:
        operator = Operator(
            id=new_id(),
            email=valid_email(email),
            password_hash=self._hasher.hash(valid_password(password)),
            active=True,
            created_at=self._clock.now(),
        )
        if self._store.by_email(operator.email) is not None:
            raise IllegalTransition(f"There is an operator {operator.email} already.")
        try:
            self._store.add(operator)
        except StorageConflict:
            raise IllegalTransition(f"There is an operator {operator.email} already.") from None
        self._store.audit(
            self._entry(
                None,
                by,
                "operator.create",
                ("operator", operator.id),
                before=None,
                after={"email": operator.email, "active": True},
                outcome="done",
            )
        )
        return operator

    def listed(self) -> list[Operator]:
        return self._store.listed()

    def set_active(self, email: str, active: bool, *, by: str = "cli") -> Operator:
        """Disable an operator (its sessions end at once) or enable it again."""
        found = self._store.by_email(email.strip().lower())
        if found is None:
            raise NotFound(f"No operator {email.strip().lower()}.")
        self._store.set_active(found.id, active)
        self._store.audit(
            self._entry(
                None,
                by,
                "operator.enable" if active else "operator.disable",
                ("operator", found.id),
                before={"email": found.email, "active": found.active},
                after={"email": found.email, "active": active},
                outcome="done",
            )
        )
        return replace(found, active=active)

    # --- signing in and out -------------------------------------------------------------

    def login(self, email: str, password: str, *, source: str) -> SignedIn:
        """A new session; ``InvalidCredentials`` for a wrong email or password alike, or
        ``RateLimited`` while this email and address (or this address) failed too often."""
        email = email.strip().lower()
        scope = login_scope(email, source)
        self._throttle.check(scope)
        operator = self._store.by_email(email) if len(email) <= 254 else None
        # An unknown email costs what a wrong password does: timing tells nothing.
        stored = operator.password_hash if operator is not None else self._decoy_hash()
        right = len(password) <= PASSWORD_MAX and self._hasher.verify(stored, password)
        if operator is None or not operator.active or not right:
            self._throttle.failed(scope)
            raise InvalidCredentials("Wrong email or password.")
        self._throttle.succeeded(scope)
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        self._store.open_session(_digest(token), operator.id, now=now, expires_at=now + LIFETIME)
        signed_in = SignedIn(operator, token)
        self._store.audit(
            self._entry(signed_in, None, "login", None, None, None, "done", source=source)
        )
        return signed_in

    def session(self, token: str | None) -> SignedIn | None:
        """The open session ``token`` names, if any (the cookie's value, whatever it is)."""
        if not token or len(token) > 128:
            return None
        digest = _digest(token)
        found = self._store.session(digest)
        if found is None:
            return None
        operator, last_seen, expires_at = found
        now = self._clock.now()
        if not operator.active or now >= expires_at or now - last_seen >= IDLE:
            self._store.close_session(digest)
            return None
        if now - last_seen >= _TOUCH_EVERY:
            self._store.touch_session(digest, now)
        return SignedIn(operator, token)

    def logout(self, signed_in: SignedIn, *, source: str) -> None:
        self._store.close_session(_digest(signed_in.token))
        self._store.audit(
            self._entry(signed_in, None, "logout", None, None, None, "done", source=source)
        )

    def forget_ended_sessions(self) -> int:
        """The worker's housekeeping: the rows of sessions that ended unseen."""
        now = self._clock.now()
        return self._store.close_sessions(idle_since=now - IDLE, begun_before=now - LIFETIME)

    # --- the audit log ------------------------------------------------------------------

    def audited(
        self,
        signed_in: SignedIn,
        action: str,
        subject: tuple[str, str],
        *,
        before: dict[str, Any] | None,
        run: Callable[[], T],
        after: Callable[[T], dict[str, Any]],
        source: str | None = None,
    ) -> T:
        """Run an operator's action, written to the audit log first (``started``), then
        with its outcome: ``done`` and the subject after it, or ``refused`` and why."""
        entry = self._entry(
            signed_in, None, action, subject, before, None, "started", source=source
        )
        entry_id = self._store.audit(entry)
        try:
            result = run()
        except ConnectPSPError as error:
            self._store.audit_outcome(entry_id, "refused", None, f"{error.code}: {error.message}")
            raise
        self._store.audit_outcome(entry_id, "done", after(result), None)
        return result

    def audit_log(self, *, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
        return self._store.audit_log(limit=limit, before_id=before_id)

    def _entry(
        self,
        signed_in: SignedIn | None,
        actor: str | None,
        action: str,
        subject: tuple[str, str] | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        outcome: str,
        *,
        source: str | None = None,
    ) -> AuditEntry:
        operator = signed_in.operator if signed_in is not None else None
        return AuditEntry(
            id=None,
            at=self._clock.now(),
            operator_id=operator.id if operator else None,
            operator_email=operator.email if operator else (actor or "unknown"),
            action=action,
            subject_kind=subject[0] if subject else None,
            subject_id=subject[1] if subject else None,
            before=before,
            after=after,
            outcome=outcome,
            source=source[:64] if source else None,
        )

    def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
        return self._decoy
