"""Throttling failed token requests: per (clientId, source) pair and per source, in a
sliding window, counted in the database so that every API process sees the same counts.

Client secrets are 256-bit random values, so no rate of guessing finds one: the limits
exist to bound the argon2 work an address can make us do, and to slow probing. They
must never let a stranger lock a client out, so nothing is keyed by clientId alone:
- a pair over its limit is refused before any argon2 work: that slows whoever is
  failing, at that address only;
- a source over its limit (spraying clientIds) is refused, except for the pairs that
  got a token from it recently (a "known source"), so a client behind the same NAT as
  the sprayer keeps working.

A source is an IPv4 address or an IPv6 /64: one IPv6 host usually holds a whole /64,
so counting its addresses one by one would limit nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import RateLimited

__all__ = ["Scope", "ThrottlePolicy", "ThrottleStore", "TokenThrottle", "scope_of"]

# The part of a key that names a client or a source: readable when it is short and
# plain, a digest otherwise, so a key never outgrows its column (whatever is sent).
_PLAIN = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
KEY_LENGTH = 140  # "pair:" + 64 + "|" + 64 at most


class ThrottleStore(Protocol):
    """Failed attempts and recent successes, shared by every API process."""

    def over_limit(self, since: datetime, limits: Mapping[str, int]) -> dict[str, datetime]:
        """For each key with at least its limit of failures after ``since``: the time of
        the failure whose expiry brings it back under its limit."""
        ...

    def succeeded_since(self, key: str, since: datetime) -> bool:
        """Whether ``key`` got a token after ``since``."""
        ...

    def record_failure(self, keys: Sequence[str], at: datetime) -> None: ...

    def record_success(self, key: str, at: datetime) -> None:
        """Forget ``key``'s failures and remember that it got a token at ``at``."""
        ...

    def prune(self, failures_before: datetime, successes_before: datetime) -> int:
        """Drop what no window or known-source period still covers; how many rows."""
        ...


@dataclass(frozen=True)
class ThrottlePolicy:
    per_pair: int  # failures of one clientId from one source
    per_source: int  # failures from one source, whatever the clientIds
    window: timedelta
    known_source: timedelta  # how long a success keeps a pair past its source's limit


@dataclass(frozen=True)
class Scope:
    """The keys one attempt counts under."""

    pair: str
    source: str


def scope_of(client_id: str, ip: str) -> Scope:
    source = _part(_source(ip))
    return Scope(pair=f"pair:{source}|{_part(client_id)}", source=f"ip:{source}")


def _source(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip  # not an address (a test client's name): counted as it is
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _part(value: str) -> str:
    if _PLAIN.fullmatch(value):
        return value
    return "#" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class TokenThrottle:
    """Decides whether a token request may be verified, and counts how it went.

    A refusal found in the database is remembered in this process until it lapses, so
    an address hammering after its limit costs no query. That never lets through what
    another process would refuse: a pair over its limit is verified nowhere, so nothing
    lifts its refusal before its time, and neither does anything lift a source's."""

    _MEMORY = 10_000  # refusals remembered at most

    def __init__(self, store: ThrottleStore, clock: Clock, policy: ThrottlePolicy) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self._refused_until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def check(self, scope: Scope) -> None:
        """Raise ``RateLimited`` (with its Retry-After) if this attempt must wait."""
        now = self._clock.now()
        self._refuse_pair_if_over(scope, now)
        source_until = self._remembered(scope.source, now)
        if source_until is None:
            self._look_up(
                now, {scope.pair: self._policy.per_pair, scope.source: self._policy.per_source}
            )
            self._refuse_pair_if_over(scope, now)
            source_until = self._remembered(scope.source, now)
            if source_until is not None and not self._known(scope, now):
                raise _source_limited(source_until - now)
            return
        # A source refused already: one query tells a sprayer's next clientId to wait.
        if not self._known(scope, now):
            raise _source_limited(source_until - now)
        self._look_up(now, {scope.pair: self._policy.per_pair})
        self._refuse_pair_if_over(scope, now)

    def failed(self, scope: Scope) -> None:
        self._store.record_failure((scope.pair, scope.source), self._clock.now())

    def succeeded(self, scope: Scope) -> None:
        self._store.record_success(scope.pair, self._clock.now())

    def prune(self) -> int:
        now = self._clock.now()
        return self._store.prune(now - self._policy.window, now - self._policy.known_source)

    def _look_up(self, now: datetime, limits: dict[str, int]) -> None:
        found = self._store.over_limit(now - self._policy.window, limits)
        for key, at in found.items():
            self._remember(key, at + self._policy.window)

    def _refuse_pair_if_over(self, scope: Scope, now: datetime) -> None:
        until = self._remembered(scope.pair, now)
        if until is not None:
            raise RateLimited(
                _seconds(until - now),
                "Too many failed attempts for this clientId from this address; "
                "wait before trying again.",
            )

    def _known(self, scope: Scope, now: datetime) -> bool:
        return self._store.succeeded_since(scope.pair, now - self._policy.known_source)

    def _remembered(self, key: str, now: datetime) -> datetime | None:
        until = self._refused_until.get(key)
        return until if until is not None and until > now else None

    def _remember(self, key: str, until: datetime) -> None:
        with self._lock:
            if len(self._refused_until) >= self._MEMORY:
                now = self._clock.now()
                kept = {k: v for k, v in self._refused_until.items() if v > now}
                # Still full: forget them all; each costs one query when seen again.
                self._refused_until = kept if len(kept) < self._MEMORY else {}
            self._refused_until[key] = until


def _source_limited(wait: timedelta) -> RateLimited:
    return RateLimited(
        _seconds(wait), "Too many failed attempts from this address; wait before trying again."
    )


def _seconds(wait: timedelta) -> int:
    return max(math.ceil(wait.total_seconds()), 1)
