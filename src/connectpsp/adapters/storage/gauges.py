"""What ``/metrics`` reads from the database at scrape time, and the connection pool's
gauges.

The backlogs are counted when Prometheus asks, never on a request: one statement per
scrape, each over an index that holds only the unfinished rows' range (``ix_outbox_due``:
topic, done_at; ``ix_webhook_deliveries_due``: status), so its cost grows with the
backlog, not with the tables' history.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import event, func, literal, select, union_all
from sqlalchemy.exc import SQLAlchemyError

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from connectpsp.domain.clock import Clock
from connectpsp.logs import get_logger
from connectpsp.metrics import POOL_CAPACITY, POOL_IN_USE, POOL_OPEN

__all__ = ["BacklogGauges", "instrument_pool"]

log = get_logger("connectpsp.metrics")


class BacklogGauges:
    """A collector: the settlement backlog (jobs of ``settle_topic`` not done) and the
    webhook queue (deliveries pending), each with its oldest entry's age."""

    def __init__(self, db: Database, clock: Clock, *, settle_topic: str) -> None:
        self._db = db
        self._clock = clock
        o, d = t.outbox.c, t.webhook_deliveries.c
        settlement = select(
            literal("settlement"), func.count(), func.min(o.created_at).label("oldest")
        ).where(o.topic == settle_topic, o.done_at.is_(None))
        webhooks = select(
            literal("webhooks"), func.count(), func.min(d.created_at).label("oldest")
        ).where(d.status == "pending")
        self._query = union_all(settlement, webhooks)

    def collect(self) -> Iterator[Metric]:
        now = self._clock.now()
        try:
            with self._db.transaction(write=False) as tx:
                rows = {name: (n, oldest) for name, n, oldest in tx.conn.execute(self._query)}
        except (SQLAlchemyError, OSError) as error:
            # The scrape still answers with the process's own metrics; a missing series
            # is what an alert on absent() sees.
            log.warning("metrics_backlog_unreadable", error_type=type(error).__name__)
            return
        yield from _pair(
            "connectpsp_settlement_backlog",
            "Accepted cash-outs whose settlement has not finished",
            "connectpsp_settlement_oldest_age_seconds",
            "Age of the oldest cash-out waiting for settlement (0 if none)",
            rows["settlement"],
            now,
        )
        yield from _pair(
            "connectpsp_webhook_queue_depth",
            "Webhook deliveries not yet delivered nor given up",
            "connectpsp_webhook_oldest_undelivered_age_seconds",
            "Age of the oldest undelivered webhook (0 if none)",
            rows["webhooks"],
            now,
        )


def _pair(
    count_name: str,
    count_help: str,
    age_name: str,
    age_help: str,
    row: tuple[int, datetime | None],
    now: datetime,
) -> Iterator[Metric]:
    count, oldest = row
    yield GaugeMetricFamily(count_name, count_help, value=count)
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    yield GaugeMetricFamily(age_name, age_help, value=age)


def instrument_pool(db: Database) -> None:
    """Keep the pool gauges as ``db``'s connections open, close, and go in and out."""
    pool: Any = db.engine.pool
    # One database per process: a process's capacity is its pool's.
    POOL_CAPACITY.set(pool.size() + max(pool._max_overflow, 0))

    @event.listens_for(pool, "connect")
    def _opened(*_: Any) -> None:
        POOL_OPEN.inc()

    @event.listens_for(pool, "close")
    @event.listens_for(pool, "close_detached")
    def _closed(*_: Any) -> None:
        POOL_OPEN.dec()

    @event.listens_for(pool, "checkout")
    def _out(*_: Any) -> None:
        POOL_IN_USE.inc()

    @event.listens_for(pool, "checkin")
    def _in(*_: Any) -> None:
        POOL_IN_USE.dec()
