"""The console's people (``service.operators``) over an in-memory store: creating them,
logins (wrong passwords, unknown emails, the throttle), sessions that end, CSRF tokens,
and the audit log's before and after."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from connectpsp.domain.errors import (
    IllegalTransition,
    InvalidCredentials,
    NotFound,
    RateLimited,
    StorageConflict,
    ValidationFailed,
)
from connectpsp.domain.operators import AuditEntry, Operator
from connectpsp.service.operators import IDLE, LIFETIME, Operators, csrf_matches
from connectpsp.service.ratelimit import ThrottlePolicy, TokenThrottle
from tests.fakes import FixedClock
from tests.unit.test_token_throttle import MemoryStore

PASSWORD = "correct horse battery staple"


@dataclass
class CountingHasher:
    verified: list[str] = field(default_factory=list)

    def hash(self, secret: str) -> str:
        return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()

    def verify(self, stored: str, secret: str) -> bool:
        self.verified.append(stored)
        return hmac.compare_digest(stored, self.hash(secret))


@dataclass
class MemoryOperators:
    operators: dict[str, Operator] = field(default_factory=dict)
    sessions: dict[str, tuple[str, datetime, datetime]] = field(default_factory=dict)
    entries: list[AuditEntry] = field(default_factory=list)

    def add(self, operator: Operator) -> None:
        if any(o.email == operator.email for o in self.operators.values()):
            raise StorageConflict()
        self.operators[operator.id] = operator

    def by_email(self, email: str) -> Operator | None:
        return next((o for o in self.operators.values() if o.email == email), None)

    def listed(self) -> list[Operator]:
        return sorted(self.operators.values(), key=lambda o: o.email)

    def set_active(self, operator_id: str, active: bool) -> None:
        self.operators[operator_id] = replace(self.operators[operator_id], active=active)
        if not active:
            self.sessions = {d: s for d, s in self.sessions.items() if s[0] != operator_id}

    def open_session(
        self, digest: str, operator_id: str, *, now: datetime, expires_at: datetime
    ) -> None:
        self.sessions[digest] = (operator_id, now, expires_at)

    def session(self, digest: str) -> tuple[Operator, datetime, datetime] | None:
        found = self.sessions.get(digest)
        if found is None:
            return None
        return self.operators[found[0]], found[1], found[2]

    def touch_session(self, digest: str, now: datetime) -> None:
        operator_id, _, expires = self.sessions[digest]
        self.sessions[digest] = (operator_id, now, expires)

    def close_session(self, digest: str) -> None:
        self.sessions.pop(digest, None)

    def close_sessions(self, *, idle_since: datetime, begun_before: datetime) -> int:
        ended = {
            digest
            for digest, (_, last_seen, expires) in self.sessions.items()
            if last_seen <= idle_since or expires - LIFETIME <= begun_before
        }
        for digest in ended:
            del self.sessions[digest]
        return len(ended)

    def audit(self, entry: AuditEntry) -> int:
        self.entries.append(replace(entry, id=len(self.entries) + 1))
        return len(self.entries)

    def audit_outcome(
        self, entry_id: int, outcome: str, after: dict[str, Any] | None, detail: str | None
    ) -> None:
        entry = self.entries[entry_id - 1]
        self.entries[entry_id - 1] = replace(entry, outcome=outcome, after=after, detail=detail)

    def audit_log(self, *, limit: int, before_id: int | None = None) -> list[AuditEntry]:
        kept = [e for e in reversed(self.entries) if before_id is None or (e.id or 0) < before_id]
        return kept[:limit]


@dataclass
class World:
    operators: Operators
    store: MemoryOperators
    hasher: CountingHasher
    clock: FixedClock


@pytest.fixture
def world() -> World:
    store, hasher, clock = MemoryOperators(), CountingHasher(), FixedClock()
    policy = ThrottlePolicy(
        per_pair=5, per_source=20, window=timedelta(minutes=5), known_source=timedelta(hours=24)
    )
    throttle = TokenThrottle(MemoryStore(), clock, policy)
    return World(
        Operators(store, hasher=hasher, clock=clock, throttle=throttle), store, hasher, clock
    )


def test_an_operator_is_created_with_a_hash_and_the_creation_is_audited(world: World) -> None:
    created = world.operators.create("  Ana@Example.COM ", PASSWORD)
    assert created.email == "ana@example.com"
    assert created.password_hash != PASSWORD and PASSWORD not in created.password_hash
    [entry] = world.store.entries
    assert (entry.action, entry.operator_email, entry.subject_id, entry.outcome) == (
        "operator.create",
        "cli",
        created.id,
        "done",
    )
    assert entry.after == {"email": "ana@example.com", "active": True}
    with pytest.raises(IllegalTransition):
        world.operators.create("ana@example.com", PASSWORD)


@pytest.mark.parametrize(
    ("email", "password", "field_name"),
    [
        ("not-an-email", PASSWORD, "email"),
        ("a@b", PASSWORD, "email"),
        ("a b@example.com", PASSWORD, "email"),
        ("x" * 120 + "@example.com", PASSWORD, "email"),
        ("ana@example.com", "short", "password"),
        ("ana@example.com", "x" * 1025, "password"),
    ],
)
def test_a_bad_email_or_password_is_refused_by_name(
    world: World, email: str, password: str, field_name: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        world.operators.create(email, password)
    assert [e.field for e in refused.value.errors] == [field_name]
    assert world.store.operators == {}


def test_a_login_opens_a_session_whose_csrf_token_is_its_own(world: World) -> None:
    world.operators.create("ana@example.com", PASSWORD)
    first = world.operators.login("ANA@example.com", PASSWORD, source="10.0.0.1")
    second = world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")
    assert first.token != second.token and first.csrf != second.csrf
    assert first.token not in str(world.store.sessions)  # only digests are kept
    found = world.operators.session(first.token)
    assert found is not None and found.operator.email == "ana@example.com"
    assert csrf_matches(first.csrf, first.csrf)
    assert not csrf_matches(first.csrf, second.csrf)
    assert not csrf_matches(first.csrf, None) and not csrf_matches(first.csrf, "")
    assert world.store.entries[-1].action == "login"


def test_a_wrong_password_and_an_unknown_email_are_refused_alike(world: World) -> None:
    world.operators.create("ana@example.com", PASSWORD)
    for email, password in (("ana@example.com", "wrong password!"), ("bob@example.com", PASSWORD)):
        with pytest.raises(InvalidCredentials) as refused:
            world.operators.login(email, password, source="10.0.0.1")
        assert refused.value.message == "Wrong email or password."
    # The unknown email cost an argon2 verification too, against a decoy hash.
    assert len(world.hasher.verified) == 2
    assert world.store.sessions == {}


def test_logins_are_throttled_per_email_and_address(world: World) -> None:
    world.operators.create("ana@example.com", PASSWORD)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            world.operators.login("ana@example.com", "wrong password!", source="10.0.0.1")
    with pytest.raises(RateLimited) as limited:
        world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")
    assert 0 < limited.value.retry_after_seconds <= 300
    # Another address is not held back by this one's failures.
    assert world.operators.login("ana@example.com", PASSWORD, source="10.0.0.2")
    world.clock.advance(minutes=5, seconds=1)
    assert world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")


def test_a_session_ends_at_logout_when_idle_and_at_its_lifetime(world: World) -> None:
    world.operators.create("ana@example.com", PASSWORD)
    ended = world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")
    world.operators.logout(ended, source="10.0.0.1")
    assert world.operators.session(ended.token) is None
    assert world.store.entries[-1].action == "logout"

    idle = world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")
    world.clock.advance(seconds=IDLE.total_seconds() - 1)
    assert world.operators.session(idle.token) is not None  # a use keeps it open
    world.clock.advance(seconds=IDLE.total_seconds() - 1)
    assert world.operators.session(idle.token) is not None
    world.clock.advance(seconds=IDLE.total_seconds())
    assert world.operators.session(idle.token) is None

    used = world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")
    for _ in range(int(LIFETIME / (IDLE / 2))):
        world.clock.advance(seconds=IDLE.total_seconds() / 2)
        world.operators.session(used.token)
    assert world.operators.session(used.token) is None  # used all along, but 8 h passed
    for token in (None, "", "x" * 200, "not-a-session"):
        assert world.operators.session(token) is None


def test_a_disabled_operator_can_neither_log_in_nor_keep_a_session(world: World) -> None:
    world.operators.create("ana@example.com", PASSWORD)
    signed_in = world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")
    disabled = world.operators.set_active("Ana@example.com", False)
    assert not disabled.active
    assert world.store.sessions == {}
    assert world.operators.session(signed_in.token) is None
    with pytest.raises(InvalidCredentials):
        world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")
    entry = world.operators.audit_log(limit=1)[0]
    assert (entry.action, entry.before, entry.after) == (
        "operator.disable",
        {"email": "ana@example.com", "active": True},
        {"email": "ana@example.com", "active": False},
    )
    world.operators.set_active("ana@example.com", True)
    assert world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")
    with pytest.raises(NotFound):
        world.operators.set_active("bob@example.com", False)


def test_an_audited_action_is_written_before_it_runs_then_with_its_outcome(world: World) -> None:
    world.operators.create("ana@example.com", PASSWORD)
    who = world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")
    seen: list[str] = []

    def run() -> dict[str, str]:
        seen.append(world.store.entries[-1].outcome)
        return {"status": "ACCEPTED"}

    done = world.operators.audited(
        who,
        "infraction.accept",
        ("infraction", "i-1"),
        before={"status": "OPEN"},
        run=run,
        after=lambda result: result,
        source="10.0.0.1",
    )
    assert done == {"status": "ACCEPTED"} and seen == ["started"]
    entry = world.operators.audit_log(limit=1)[0]
    assert (entry.operator_email, entry.action, entry.subject_kind, entry.subject_id) == (
        "ana@example.com",
        "infraction.accept",
        "infraction",
        "i-1",
    )
    assert (entry.before, entry.after, entry.outcome, entry.source) == (
        {"status": "OPEN"},
        {"status": "ACCEPTED"},
        "done",
        "10.0.0.1",
    )

    def fails() -> dict[str, str]:
        raise NotFound("No infraction i-2.")

    with pytest.raises(NotFound):
        world.operators.audited(
            who, "infraction.accept", ("infraction", "i-2"), before=None, run=fails, after=dict
        )
    refused = world.operators.audit_log(limit=1)[0]
    assert (refused.outcome, refused.after, refused.detail) == (
        "refused",
        None,
        "NOT_FOUND: No infraction i-2.",
    )
    older = world.operators.audit_log(limit=10, before_id=refused.id)
    assert [e.id for e in older] == [e.id for e in world.operators.audit_log(limit=10)[1:]]


def test_housekeeping_forgets_the_sessions_that_ended_unseen(world: World) -> None:
    world.operators.create("ana@example.com", PASSWORD)
    idle = world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")
    world.clock.advance(minutes=30)
    kept = world.operators.login("ana@example.com", PASSWORD, source="10.0.0.1")
    world.clock.advance(minutes=31)
    assert world.operators.forget_ended_sessions() == 1
    assert world.operators.session(kept.token) is not None
    assert world.operators.session(idle.token) is None
