"""DICT's security information, over hand-written fakes: the cache in front of it (its TTL,
invalidation, bound, shared look-ups, threads), the periods it counts over, telling a
key's type by its form, and the sandbox use cases that change it."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from connectpsp.domain.cashout import Creditor
from connectpsp.domain.errors import NotFound, ValidationFailed
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.service.sandbox import SandboxDict, SandboxFraudMarkers
from connectpsp.service.security import (
    NO_ACTIVITY,
    FraudMarker,
    FraudType,
    KeySecurity,
    Periods,
    SecurityCache,
    SecurityInfo,
    count_periods,
    key_type_of,
    period_starts,
)
from connectpsp.settings import Settings, SettingsError
from tests.fakes import FixedClock


def info(markers: int) -> SecurityInfo:
    """Statistics told apart by their number of markers in force."""
    return SecurityInfo(
        NO_ACTIVITY.fraud_markers,
        NO_ACTIVITY.infraction_reports,
        NO_ACTIVITY.settlements,
        active_markers=markers,
        blocked=False,
    )


@dataclass
class CountingDict:
    """A ``DictSecurity`` that counts its look-ups; its answers change when told to."""

    markers: int = 0
    known: set[str] = field(default_factory=lambda: {"ana@example.com", "bia@example.com"})
    calls: list[tuple[str, str]] = field(default_factory=list)

    def key_security(self, key_type: PixKeyType, key: str) -> KeySecurity | None:
        self.calls.append(("key", key))
        if key not in self.known:
            return None
        return KeySecurity(info(self.markers), info(self.markers), "12345678909")

    def owner_security(self, document: str) -> SecurityInfo:
        self.calls.append(("owner", document))
        return info(self.markers)


def cache_over(inner: CountingDict, clock: FixedClock, **kwargs: int) -> SecurityCache:
    return SecurityCache(inner, clock=clock, ttl=timedelta(seconds=60), **kwargs)


def test_an_answer_is_kept_for_the_ttl_then_looked_up_again() -> None:
    inner, clock = CountingDict(markers=1), FixedClock()
    cache = cache_over(inner, clock)
    first = cache.key_security(PixKeyType.EMAIL, "ana@example.com")
    inner.markers = 2  # DICT changed; the cache does not know yet
    clock.advance(seconds=59)
    kept = cache.key_security(PixKeyType.EMAIL, "ana@example.com")
    clock.advance(seconds=1)
    fresh = cache.key_security(PixKeyType.EMAIL, "ana@example.com")
    assert first is not None and kept is not None and fresh is not None
    assert (first.key.active_markers, kept.key.active_markers) == (1, 1)
    assert fresh.key.active_markers == 2
    assert inner.calls == [("key", "ana@example.com")] * 2


def test_keys_people_and_unresolved_keys_are_kept_apart() -> None:
    inner, clock = CountingDict(), FixedClock()
    cache = cache_over(inner, clock)
    for _ in range(3):
        assert cache.key_security(PixKeyType.EMAIL, "nobody@example.com") is None
        assert cache.key_security(PixKeyType.EMAIL, "ana@example.com") is not None
        assert cache.owner_security("12345678909") == info(0)
        assert cache.owner_security("98765432100") == info(0)
    assert inner.calls == [
        ("key", "nobody@example.com"),
        ("key", "ana@example.com"),
        ("owner", "12345678909"),
        ("owner", "98765432100"),
    ]


def test_invalidate_forgets_every_answer() -> None:
    inner, clock = CountingDict(), FixedClock()
    cache = cache_over(inner, clock)
    cache.key_security(PixKeyType.EMAIL, "ana@example.com")
    cache.owner_security("12345678909")
    inner.markers = 1
    cache.invalidate()
    assert cache.size == 0
    found = cache.key_security(PixKeyType.EMAIL, "ana@example.com")
    assert found is not None and found.key.marked
    assert cache.owner_security("12345678909").marked
    assert len(inner.calls) == 4


def test_a_look_up_under_way_when_the_cache_is_invalidated_is_not_kept() -> None:
    clock = FixedClock()

    @dataclass
    class ChangedMeanwhile(CountingDict):
        cache: SecurityCache | None = None

        def owner_security(self, document: str) -> SecurityInfo:
            answer = super().owner_security(document)  # read before the change...
            if len(self.calls) == 1 and self.cache is not None:
                self.markers = 1  # ...which lands while this answer is on its way
                self.cache.invalidate()
            return answer

    inner = ChangedMeanwhile()
    cache = cache_over(inner, clock)
    inner.cache = cache
    assert not cache.owner_security("12345678909").marked  # the answer it was given
    assert cache.owner_security("12345678909").marked  # the stale one was not kept
    assert len(inner.calls) == 2


def test_at_most_max_entries_are_kept_the_least_recently_used_go_first() -> None:
    inner, clock = CountingDict(), FixedClock()
    cache = cache_over(inner, clock, max_entries=2)
    cache.owner_security("a")
    cache.owner_security("b")
    cache.owner_security("a")  # used: b is now the least recent
    cache.owner_security("c")  # evicts b
    assert cache.size == 2
    inner.calls.clear()
    cache.owner_security("a")
    cache.owner_security("c")
    assert inner.calls == []
    cache.owner_security("b")
    assert inner.calls == [("owner", "b")]


def test_a_ttl_of_zero_keeps_nothing() -> None:
    inner, clock = CountingDict(), FixedClock()
    cache = SecurityCache(inner, clock=clock, ttl=timedelta(0))
    cache.owner_security("12345678909")
    cache.owner_security("12345678909")
    assert len(inner.calls) == 2 and cache.size == 0


class Gate(CountingDict):
    """Holds every look-up until the test opens it; may fail the first."""

    def __init__(self, *, fail_first: bool = False) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.open = threading.Event()
        self.fail_first = fail_first
        self._lock = threading.Lock()

    def owner_security(self, document: str) -> SecurityInfo:
        with self._lock:
            answer = super().owner_security(document)
            first = len(self.calls) == 1
        if first:
            self.entered.set()
            assert self.open.wait(10)
            if self.fail_first:
                raise ConnectionError("DICT did not answer")
        return answer


def until_waiting(threads: list[threading.Thread]) -> None:
    """Until each of ``threads`` is blocked in a ``threading`` wait (on the shared
    look-up), seen from its current stack."""
    deadline = time.monotonic() + 10
    while True:
        frames = sys._current_frames()
        stacks = []
        for thread in threads:
            frame, names = frames.get(thread.ident or -1), set()
            while frame is not None:
                names.add((frame.f_code.co_filename, frame.f_code.co_name))
                frame = frame.f_back
            stacks.append(names)
        if all((threading.__file__, "wait") in names for names in stacks):
            return
        assert time.monotonic() < deadline, "the callers never waited"
        time.sleep(0.001)


def ask_at_once(cache: SecurityCache, gate: Gate, callers: int) -> list[object]:
    """One caller's look-up held in DICT while ``callers`` more ask the same; then the
    gate opens. What each got (an answer, or the error it raised)."""
    got: list[object] = []

    def ask() -> None:
        try:
            got.append(cache.owner_security("12345678909"))
        except ConnectionError as error:
            got.append(error)

    leader = threading.Thread(target=ask)
    leader.start()
    assert gate.entered.wait(10)
    followers = [threading.Thread(target=ask) for _ in range(callers)]
    for thread in followers:
        thread.start()
    until_waiting(followers)
    gate.open.set()
    for thread in [leader, *followers]:
        thread.join(10)
    return got


def test_callers_asking_for_the_same_thing_at_once_share_one_look_up() -> None:
    gate = Gate()
    cache = SecurityCache(gate, clock=FixedClock(), ttl=timedelta(seconds=60))
    got = ask_at_once(cache, gate, callers=5)
    assert got == [info(0)] * 6
    assert len(gate.calls) == 1


def test_when_a_shared_look_up_fails_each_caller_tries_for_itself() -> None:
    gate = Gate(fail_first=True)
    cache = SecurityCache(gate, clock=FixedClock(), ttl=timedelta(seconds=60))
    got = ask_at_once(cache, gate, callers=3)
    assert sum(isinstance(g, ConnectionError) for g in got) == 1
    assert got.count(info(0)) == 3
    assert len(gate.calls) == 4  # the failed one, then one for each caller that waited


def test_the_cache_holds_under_threads_that_read_and_invalidate() -> None:
    inner, clock = CountingDict(), FixedClock()
    cache = cache_over(inner, clock, max_entries=8)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(300):
                cache.owner_security(f"{(n * 7 + i) % 20}")
                if i % 50 == n:
                    cache.invalidate()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert cache.size <= 8


NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def test_periods_are_90_days_12_months_and_60_months_back_from_now() -> None:
    d90, m12, m60 = period_starts(NOW)
    assert d90 == datetime(2025, 12, 10, 15, 0, tzinfo=UTC)
    assert m12 == datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
    assert m60 == datetime(2021, 3, 10, 15, 0, tzinfo=UTC)
    # A month back from a day the month lacks ends on that month's last day.
    assert period_starts(datetime(2028, 2, 29, tzinfo=UTC))[1] == datetime(2027, 2, 28, tzinfo=UTC)


def test_count_periods_counts_each_moment_in_every_period_it_falls_in() -> None:
    moments = [
        NOW,  # every period
        NOW - timedelta(days=90),  # the start of d90 counts in
        NOW - timedelta(days=91),  # m12 and m60
        datetime(2025, 3, 10, 15, 0, tzinfo=UTC),  # the start of m12
        datetime(2025, 3, 10, 14, 59, tzinfo=UTC),  # m60 only
        datetime(2021, 3, 10, 14, 59, tzinfo=UTC),  # older than every period
        NOW + timedelta(seconds=1),  # not yet
    ]
    assert count_periods(moments, NOW) == Periods(d90=2, m12=4, m60=5)


@pytest.mark.parametrize(
    ("key", "key_type"),
    [
        ("12345678909", PixKeyType.CPF),
        ("11222333000181", PixKeyType.CNPJ),
        ("12ABC34501DE35", PixKeyType.CNPJ),
        ("maria.silva@sandbox.connectpsp.dev", PixKeyType.EMAIL),
        ("+5511999990000", PixKeyType.PHONE),
        ("7d9f3c2a-1b4e-4c8d-9a6f-0e5b2d1c3a40", PixKeyType.EVP),
    ],
)
def test_a_keys_type_is_told_by_its_form(key: str, key_type: PixKeyType) -> None:
    assert key_type_of(key) is key_type


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("12345678900", "valid CPF"),
        ("Maria@Example.com", "lowercase e-mail"),
        ("+55119", "+55 followed by"),
        ("7D9F3C2A-1B4E-4C8D-9A6F-0E5B2D1C3A40", "lowercase UUID"),
        ("hello", "must be a Pix key"),
        ("", "must be a Pix key"),
    ],
)
def test_a_key_of_no_valid_form_is_refused_saying_why(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        key_type_of(key)


@dataclass
class RecordingMarkers:
    """A ``FraudMarkerRegistry`` that keeps what it is given."""

    added: list[FraudMarker] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def add_marker(
        self, marker_type: FraudType, *, key: str | None = None, document: str | None = None
    ) -> FraudMarker:
        marker = FraudMarker(f"m{len(self.added)}", key, document, marker_type, NOW)
        self.added.append(marker)
        return marker

    def remove_marker(self, marker_id: str) -> None:
        if marker_id not in {m.id for m in self.added}:
            raise NotFound(f"No fraud marker {marker_id}.")
        self.removed.append(marker_id)


def test_every_sandbox_change_invalidates_the_cache() -> None:
    registry, changes = RecordingMarkers(), []
    markers = SandboxFraudMarkers(registry, on_changed=lambda: changes.append("changed"))
    on_key = markers.add(key="ana@example.com")
    on_document = markers.add(document="12345678909", marker_type=FraudType.MULE_ACCOUNT)
    markers.remove(on_key.id)
    assert [(m.key, m.document, m.type) for m in registry.added] == [
        ("ana@example.com", None, FraudType.SCAMMER_ACCOUNT),
        (None, "12345678909", FraudType.MULE_ACCOUNT),
    ]
    assert on_document.document == "12345678909" and registry.removed == ["m0"]
    assert changes == ["changed"] * 3

    class Registry:
        def register(self, *args: object) -> None:
            pass

    owner = Creditor("Ana", "12345678909", "18236120", "0001", "42", AccountType.PAYMENT)
    SandboxDict(Registry(), on_changed=lambda: changes.append("key")).register_key(
        PixKeyType.EMAIL, "ana@example.com", owner
    )
    assert changes[-1] == "key"


def test_a_marker_needs_a_key_or_a_document_and_only_one() -> None:
    registry, changes = RecordingMarkers(), []
    markers = SandboxFraudMarkers(registry, on_changed=lambda: changes.append("changed"))
    with pytest.raises(ValidationFailed):
        markers.add()
    with pytest.raises(ValidationFailed):
        markers.add(key="ana@example.com", document="12345678909")
    with pytest.raises(NotFound):
        markers.remove("unknown")
    assert registry.added == [] and changes == []


def test_the_dict_cache_ttl_is_a_setting() -> None:
    assert Settings.from_env({}).dict_cache_seconds == 60
    assert Settings.from_env({"CONNECTPSP_DICT_CACHE_SECONDS": "5"}).dict_cache_seconds == 5
    assert Settings.from_env({"CONNECTPSP_DICT_CACHE_SECONDS": "0"}).dict_cache_seconds == 0
    for bad in ("-1", "soon"):
        with pytest.raises(SettingsError, match="CONNECTPSP_DICT_CACHE_SECONDS"):
            Settings.from_env({"CONNECTPSP_DICT_CACHE_SECONDS": bad})
