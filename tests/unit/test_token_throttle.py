"""The token throttle's policy, against a small in-memory store and a frozen clock:
limits per (clientId, source) pair and per source, never per clientId alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from connectpsp.domain.errors import RateLimited
from connectpsp.service.ratelimit import (
    KEY_LENGTH,
    Scope,
    ThrottlePolicy,
    TokenThrottle,
    scope_of,
)

POLICY = ThrottlePolicy(
    per_pair=5, per_source=20, window=timedelta(seconds=300), known_source=timedelta(hours=24)
)
VICTIM = "6f1c2a3e-0000-4000-8000-000000000001"


class FrozenClock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> None:
        self.at += timedelta(**kwargs)


class MemoryStore:
    """What the SQL store keeps, as lists; ``queries`` counts the reads."""

    def __init__(self) -> None:
        self.failures: list[tuple[str, datetime]] = []
        self.successes: dict[str, datetime] = {}
        self.queries = 0

    def over_limit(self, since: datetime, limits: Mapping[str, int]) -> dict[str, datetime]:
        self.queries += 1
        over = {}
        for key, limit in limits.items():
            times = sorted(at for k, at in self.failures if k == key and at > since)
            if len(times) >= limit:
                over[key] = times[len(times) - limit]
        return over

    def succeeded_since(self, key: str, since: datetime) -> bool:
        self.queries += 1
        return key in self.successes and self.successes[key] > since

    def record_failure(self, keys: Sequence[str], at: datetime) -> None:
        self.failures += [(key, at) for key in keys]

    def record_success(self, key: str, at: datetime) -> None:
        self.failures = [(k, t) for k, t in self.failures if k != key]
        self.successes[key] = at

    def prune(self, failures_before: datetime, successes_before: datetime) -> int:
        before = len(self.failures) + len(self.successes)
        self.failures = [(k, t) for k, t in self.failures if t > failures_before]
        self.successes = {k: t for k, t in self.successes.items() if t > successes_before}
        return before - len(self.failures) - len(self.successes)


def throttle(store: MemoryStore | None = None, clock: FrozenClock | None = None) -> TokenThrottle:
    return TokenThrottle(store or MemoryStore(), clock or FrozenClock(), POLICY)


def attempt(limiter: TokenThrottle, scope: Scope, *, ok: bool = False) -> str:
    """One token request: "refused" (429), or verified and then "failed" or "ok"."""
    try:
        limiter.check(scope)
    except RateLimited:
        return "refused"
    if ok:
        limiter.succeeded(scope)
        return "ok"
    limiter.failed(scope)
    return "failed"


def test_an_attacker_elsewhere_never_locks_the_client_out() -> None:
    limiter = throttle()
    attacker = scope_of(VICTIM, "203.0.113.5")
    outcomes = [attempt(limiter, attacker) for _ in range(50)]
    assert outcomes == ["failed"] * 5 + ["refused"] * 45  # slowed, before any argon2 work
    assert attempt(limiter, scope_of(VICTIM, "198.51.100.7"), ok=True) == "ok"


def test_a_pairs_retry_after_is_when_its_oldest_failure_leaves_the_window() -> None:
    clock = FrozenClock()
    limiter = throttle(clock=clock)
    scope = scope_of(VICTIM, "203.0.113.5")
    for _ in range(5):
        assert attempt(limiter, scope) == "failed"
        clock.advance(seconds=10)  # failures at 0, 10, 20, 30, 40
    clock.advance(seconds=50)  # t = 100
    with pytest.raises(RateLimited) as raised:
        limiter.check(scope)
    assert raised.value.retry_after_seconds == 200
    clock.advance(seconds=199.5)
    with pytest.raises(RateLimited) as again:
        limiter.check(scope)
    assert again.value.retry_after_seconds == 1
    clock.advance(seconds=0.5)  # the first failure has left the window: four remain
    assert attempt(limiter, scope) == "failed"
    with pytest.raises(RateLimited) as next_time:  # five again, the oldest now at t = 10
        limiter.check(scope)
    assert next_time.value.retry_after_seconds == 10


def test_a_spraying_source_is_refused_but_its_known_pairs_are_not() -> None:
    clock = FrozenClock()
    store = MemoryStore()
    limiter = throttle(store, clock)
    nat = "192.0.2.40"
    regular, newcomer = "client-regular", "client-newcomer"
    assert attempt(limiter, scope_of(regular, nat), ok=True) == "ok"
    clock.advance(hours=23)
    sprayed = [attempt(limiter, scope_of(f"unknown-{i}", nat)) for i in range(25)]
    assert sprayed == ["failed"] * 20 + ["refused"] * 5
    assert attempt(limiter, scope_of(regular, nat), ok=True) == "ok"  # a known source
    with pytest.raises(RateLimited) as raised:
        limiter.check(scope_of(newcomer, nat))  # never got a token from there
    assert raised.value.retry_after_seconds == 300
    assert attempt(limiter, scope_of(newcomer, "192.0.2.41"), ok=True) == "ok"
    # The regular's own failures there still count under its pair's limit.
    assert [attempt(limiter, scope_of(regular, nat)) for _ in range(6)] == ["failed"] * 5 + [
        "refused"
    ]
    clock.advance(seconds=301)
    assert attempt(limiter, scope_of(newcomer, nat), ok=True) == "ok"


def test_a_known_source_is_forgotten_after_its_period() -> None:
    clock = FrozenClock()
    limiter = throttle(clock=clock)
    nat = "192.0.2.40"
    assert attempt(limiter, scope_of("client-regular", nat), ok=True) == "ok"
    clock.advance(hours=24, seconds=1)
    for i in range(20):
        assert attempt(limiter, scope_of(f"unknown-{i}", nat)) == "failed"
    assert attempt(limiter, scope_of("client-regular", nat)) == "refused"


def test_two_processes_on_one_store_share_the_count() -> None:
    store, clock = MemoryStore(), FrozenClock()
    first, second = throttle(store, clock), throttle(store, clock)
    scope = scope_of(VICTIM, "203.0.113.5")
    for limiter in (first, second, first, second, first):
        assert attempt(limiter, scope) == "failed"
    assert attempt(second, scope) == "refused"
    assert attempt(first, scope) == "refused"


def test_a_refusal_is_remembered_until_it_lapses() -> None:
    store, clock = MemoryStore(), FrozenClock()
    limiter = throttle(store, clock)
    scope = scope_of(VICTIM, "203.0.113.5")
    for _ in range(5):
        attempt(limiter, scope)
    assert attempt(limiter, scope) == "refused"
    queries = store.queries
    for _ in range(100):
        assert attempt(limiter, scope) == "refused"
    assert store.queries == queries  # hammering after the limit costs no query
    clock.advance(seconds=300)
    assert attempt(limiter, scope) == "failed"


def test_a_refused_source_costs_one_query_per_attempt() -> None:
    store = MemoryStore()
    limiter = throttle(store)
    sprayed = [attempt(limiter, scope_of(f"unknown-{i}", "203.0.113.9")) for i in range(21)]
    assert sprayed[-1] == "refused"
    queries = store.queries
    for i in range(100):
        assert attempt(limiter, scope_of(f"next-{i}", "203.0.113.9")) == "refused"
    assert store.queries == queries + 100  # is it a known source there? nothing more


def test_a_success_clears_its_pairs_failures_only() -> None:
    limiter = throttle()
    scope = scope_of(VICTIM, "198.51.100.7")
    for _ in range(4):
        assert attempt(limiter, scope) == "failed"
    assert attempt(limiter, scope, ok=True) == "ok"
    assert [attempt(limiter, scope) for _ in range(6)] == ["failed"] * 5 + ["refused"]


def test_prune_keeps_what_a_window_or_a_known_source_still_needs() -> None:
    store, clock = MemoryStore(), FrozenClock()
    limiter = throttle(store, clock)
    attempt(limiter, scope_of("a", "192.0.2.1"), ok=True)
    attempt(limiter, scope_of("b", "192.0.2.1"))
    clock.advance(seconds=299)
    assert limiter.prune() == 0
    clock.advance(seconds=1)
    assert limiter.prune() == 2  # the failure's two rows
    clock.advance(hours=24)
    assert limiter.prune() == 1  # the success
    assert store.failures == [] and store.successes == {}


def test_an_ipv6_source_is_its_64() -> None:
    one = scope_of(VICTIM, "2001:db8:1:2::1")
    assert one == scope_of(VICTIM, "2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert one.source == "ip:2001:db8:1:2::/64"
    assert one != scope_of(VICTIM, "2001:db8:1:3::1")
    assert scope_of(VICTIM, "::ffff:192.0.2.1") == scope_of(VICTIM, "192.0.2.1")


@pytest.mark.parametrize(
    "client_id",
    ["x" * 100, "é" * 100, "nul\x00byte", "a|b", "#deadbeef", "\ud800", "client id with spaces"],
)
def test_keys_are_bounded_and_distinct_whatever_is_sent(client_id: str) -> None:
    scope = scope_of(client_id, "x" * 300)
    assert len(scope.pair) <= KEY_LENGTH and len(scope.source) <= KEY_LENGTH
    assert scope.pair.isascii() and scope.pair.isprintable() and "\x00" not in scope.pair
    assert scope != scope_of(client_id + "y", "x" * 300)
    assert scope_of(VICTIM, "192.0.2.1").pair == f"pair:192.0.2.1|{VICTIM}"  # readable
