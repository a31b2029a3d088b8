"""DICT's security information about a payee, and the port that gives it.

BCB's DICT answers a key look-up (``GET /entries/{key}``) with statistics about the key and
about its owner, and gives an owner's statistics by CPF/CNPJ too: settlements received,
fraud markers by type, infraction reports, each counted over the last 90 days, 12 months
and 60 months. A PSP checks them before it pays (``DictSecurity``); ``SecurityCache`` keeps
the answers for a short while, because a real DICT rations look-ups (docs/sandbox.md).

Money is in centavos; a period is counted back from the clock's now.
"""

from __future__ import annotations

import calendar
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar, cast

from connectpsp.domain.clock import Clock
from connectpsp.domain.pix import PixKeyType, validate_pix_key

__all__ = [
    "NO_ACTIVITY",
    "DictSecurity",
    "FraudMarker",
    "FraudMarkers",
    "FraudType",
    "InfractionReports",
    "KeySecurity",
    "Periods",
    "SecurityCache",
    "SecurityInfo",
    "count_periods",
    "key_type_of",
    "period_starts",
]


class FraudType(StrEnum):
    """DICT's fraud marker types; UNKNOWN is what DICT v1's untyped markers became."""

    APPLICATION_FRAUD = "APPLICATION_FRAUD"
    MULE_ACCOUNT = "MULE_ACCOUNT"
    SCAMMER_ACCOUNT = "SCAMMER_ACCOUNT"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class FraudMarker:
    """A fraud marker on a key or on a document (exactly one), in force until removed."""

    id: str
    key: str | None
    document: str | None
    type: FraudType
    created_at: datetime
    removed_at: datetime | None = None


@dataclass(frozen=True)
class Periods:
    """A count over the last 90 days, 12 months and 60 months."""

    d90: int
    m12: int
    m60: int


@dataclass(frozen=True)
class FraudMarkers:
    application_frauds: Periods
    mule_accounts: Periods
    scammer_accounts: Periods
    other_frauds: Periods
    unknown_frauds: Periods
    total_fraud_transaction_amount: Periods  # centavos
    distinct_fraud_reporters: Periods


@dataclass(frozen=True)
class InfractionReports:
    open_reports: int
    open_reports_distinct_reporters: int
    rejected_reports: Periods


@dataclass(frozen=True)
class SecurityInfo:
    """What DICT says about a key or about a person. ``active_markers`` counts the fraud
    markers in force now (created and not removed), however old; ``blocked``: the account
    is blocked."""

    fraud_markers: FraudMarkers
    infraction_reports: InfractionReports
    settlements: Periods
    active_markers: int
    blocked: bool

    @property
    def marked(self) -> bool:
        return self.active_markers > 0


@dataclass(frozen=True)
class KeySecurity:
    """A key's own statistics, and its owner's (by the owner's CPF/CNPJ)."""

    key: SecurityInfo
    owner: SecurityInfo
    owner_document: str


_NONE = Periods(0, 0, 0)
NO_ACTIVITY = SecurityInfo(
    FraudMarkers(_NONE, _NONE, _NONE, _NONE, _NONE, _NONE, _NONE),
    InfractionReports(0, 0, _NONE),
    settlements=_NONE,
    active_markers=0,
    blocked=False,
)


class DictSecurity(Protocol):
    """DICT's security information (the port; the simulated network implements it)."""

    def key_security(self, key_type: PixKeyType, key: str) -> KeySecurity | None:
        """The key's statistics and its owner's; None if the key resolves to nothing."""
        ...

    def owner_security(self, document: str) -> SecurityInfo:
        """A person's statistics, by CPF/CNPJ (every person has some, maybe all zero)."""
        ...


def _months_before(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def period_starts(now: datetime) -> tuple[datetime, datetime, datetime]:
    """When the 90-day, 12-month and 60-month periods ending ``now`` begin."""
    return now - timedelta(days=90), _months_before(now, 12), _months_before(now, 60)


def count_periods(moments: Iterable[datetime], now: datetime) -> Periods:
    """How many of ``moments`` fall in each period ending ``now`` (a start counts in)."""
    d90, m12, m60 = period_starts(now)
    seen = [m for m in moments if m <= now]
    return Periods(
        sum(m >= d90 for m in seen), sum(m >= m12 for m in seen), sum(m >= m60 for m in seen)
    )


def key_type_of(key: str) -> PixKeyType:
    """The type of a Pix key by its form (the five forms do not overlap); ``ValueError``
    (user-facing) if it is not a valid key of that type, or of any."""
    if "@" in key:
        key_type = PixKeyType.EMAIL
    elif key.startswith("+"):
        key_type = PixKeyType.PHONE
    elif len(key) == 36 and key.count("-") == 4:
        key_type = PixKeyType.EVP
    elif len(key) == 11:
        key_type = PixKeyType.CPF
    elif len(key) == 14:
        key_type = PixKeyType.CNPJ
    else:
        raise ValueError(
            "must be a Pix key: a CPF, a CNPJ, an e-mail address, a +55 phone number or an EVP"
        )
    validate_pix_key(key_type, key)
    return key_type


T = TypeVar("T")


@dataclass
class _Flight:
    """A look-up under way: callers asking for the same thing meanwhile wait for it."""

    done: threading.Event = field(default_factory=threading.Event)
    value: object = None
    failed: bool = False


class SecurityCache:
    """A ``DictSecurity`` that remembers answers for ``ttl``: a key's or a person's
    markers can thus be up to ``ttl`` old. At most ``max_entries`` answers are kept (the
    least recently used go first), and callers asking for the same thing at once share
    one look-up. ``invalidate`` forgets everything, and a look-up under way then is not
    kept: the sandbox calls it on every change it makes, and MED on every report and
    decision (other processes see a change when their own entries expire). Thread-safe."""

    def __init__(
        self,
        inner: DictSecurity,
        *,
        clock: Clock,
        ttl: timedelta,
        max_entries: int = 10_000,
    ) -> None:
        self._inner = inner
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, ...], tuple[datetime, object]] = OrderedDict()
        self._flights: dict[tuple[str, ...], _Flight] = {}
        self._generation = 0

    def key_security(self, key_type: PixKeyType, key: str) -> KeySecurity | None:
        # The member itself (a str equal to its value) names the key: no ``.value``.
        return self._cached(("key", key_type, key), lambda: self._inner.key_security(key_type, key))

    def owner_security(self, document: str) -> SecurityInfo:
        return self._cached(("owner", document), lambda: self._inner.owner_security(document))

    def remembered_payee(
        self, document: str, key_type: PixKeyType | None = None, key: str = ""
    ) -> tuple[SecurityInfo, KeySecurity | None] | None:
        """A payee's statistics and, given its key, the key's (None: the key resolves to
        nothing), if both are in memory; else None. One lock and one clock read: every
        cash-out asks this before it is queued."""
        with self._lock:
            now = self._clock.now()
            owner = self._entries.get(("owner", document))
            if owner is None or now >= owner[0]:
                return None
            if key_type is None:
                return cast(SecurityInfo, owner[1]), None
            found = self._entries.get(("key", key_type, key))
            if found is None or now >= found[0]:
                return None
            return cast(SecurityInfo, owner[1]), cast(KeySecurity | None, found[1])

    def invalidate(self) -> None:
        with self._lock:
            self._entries.clear()
            self._flights.clear()
            self._generation += 1

    @property
    def size(self) -> int:
        """How many answers are kept now (not ``__len__``: an empty cache is still one)."""
        with self._lock:
            return len(self._entries)

    def _cached(self, name: tuple[str, ...], fetch: Callable[[], T]) -> T:
        with self._lock:
            now = self._clock.now()
            found = self._entries.get(name)
            if found is not None and now < found[0]:
                self._entries.move_to_end(name)
                return cast(T, found[1])
            flight = self._flights.get(name)
            leading = flight is None
            if flight is None:
                flight = self._flights[name] = _Flight()
            generation = self._generation
        if not leading:
            flight.done.wait()
            # The leader's look-up failed: each waiter tries once for itself.
            return fetch() if flight.failed else cast(T, flight.value)
        try:
            value = fetch()
        except BaseException:
            with self._lock:
                self._land(name, flight)
            flight.failed = True
            flight.done.set()
            raise
        with self._lock:
            self._land(name, flight)
            if generation == self._generation and self._ttl > timedelta(0):
                self._entries[name] = (self._clock.now() + self._ttl, value)
                self._entries.move_to_end(name)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        flight.value = value
        flight.done.set()
        return value

    def _land(self, name: tuple[str, ...], flight: _Flight) -> None:
        """Forget ``flight`` (unless ``invalidate`` already has, and another took off)."""
        if self._flights.get(name) is flight:
            del self._flights[name]
