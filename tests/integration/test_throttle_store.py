"""The token throttle's SQL store on both databases: the sliding-window count, the
moment a key falls back under its limit, known sources, and the worker's prune."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.throttle import SqlThrottleStore
from connectpsp.bootstrap import Container

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def key(kind: str) -> str:
    return f"{kind}:{uuid.uuid4().hex}"


def rows(container: Container, *keys: str) -> int:
    with container.db.transaction(write=False) as tx:
        return int(
            tx.conn.execute(
                select(func.count()).where(t.auth_failures.c.scope_key.in_(keys))
            ).scalar_one()
        )


def test_a_key_is_over_its_limit_until_the_right_failure_leaves_the_window(
    container: Container,
) -> None:
    store = SqlThrottleStore(container.db)
    pair, source = key("pair"), key("ip")
    for second in (0, 10, 20, 30, 40):
        store.record_failure((pair, source), T0 + timedelta(seconds=second))
    since = T0 + timedelta(seconds=40) - timedelta(seconds=300)
    assert store.over_limit(since, {pair: 5, source: 6}) == {pair: T0}
    assert store.over_limit(since, {pair: 3, source: 6}) == {pair: T0 + timedelta(seconds=20)}
    later = T0 + timedelta(seconds=5)  # the first has left the window
    assert store.over_limit(later, {pair: 5, source: 4}) == {source: T0 + timedelta(seconds=10)}
    assert store.over_limit(since, {key("pair"): 1}) == {}


def test_a_success_clears_its_pairs_failures_and_makes_it_known(container: Container) -> None:
    store = SqlThrottleStore(container.db)
    pair, source = key("pair"), key("ip")
    store.record_failure((pair, source), T0)
    assert not store.succeeded_since(pair, T0 - timedelta(hours=24))
    store.record_success(pair, T0 + timedelta(seconds=1))
    store.record_success(pair, T0 + timedelta(seconds=2))  # again: the time moves on
    assert rows(container, pair) == 0 and rows(container, source) == 1
    assert store.succeeded_since(pair, T0 + timedelta(seconds=1))
    assert not store.succeeded_since(pair, T0 + timedelta(seconds=2))


def test_prune_drops_only_what_no_window_or_period_covers(container: Container) -> None:
    store = SqlThrottleStore(container.db)
    old, recent, known = key("ip"), key("ip"), key("pair")
    far = T0 + timedelta(days=30)  # past everything the other tests wrote
    store.record_failure((old,), far)
    store.record_failure((recent,), far + timedelta(seconds=300))
    store.record_success(known, far)
    store.prune(far + timedelta(seconds=1), far - timedelta(seconds=1))
    assert rows(container, old) == 0 and rows(container, recent) == 1
    assert store.succeeded_since(known, far - timedelta(seconds=1))
    store.prune(far + timedelta(seconds=1), far)
    assert not store.succeeded_since(known, far - timedelta(days=1))


def test_the_worker_prunes_the_throttle(container: Container) -> None:
    """The housekeeping step is one of the worker's: a stale row goes once it runs."""
    store = SqlThrottleStore(container.db)
    stale = key("ip")
    store.record_failure((stale,), container.clock.now() - timedelta(hours=1))
    container.worker.start()
    try:
        deadline = time.monotonic() + 10
        while rows(container, stale):
            assert time.monotonic() < deadline, "the worker did not prune the throttle"
            time.sleep(0.05)
    finally:
        container.worker.stop()
