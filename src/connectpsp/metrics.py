"""Prometheus metrics: the instruments every part of the server counts with, and the
exposition ``/metrics`` serves (docs/operations.md lists them).

Counters and histograms live in the client library's process-wide registry. With
``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts), each process writes its
values to files there and any API process's ``/metrics`` sums them all: several
``connectpsp serve`` and ``connectpsp worker`` processes then look like one. What is read
from the database at scrape time (backlogs, queue depths) is not per process; it comes
from a collector the caller passes to ``Exposition``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

from connectpsp.settings import SettingsError

__all__ = [
    "CASH_INS_RECEIVED",
    "CASH_INS_REFUSED",
    "CASH_OUTS_ACCEPTED",
    "CASH_OUTS_COMPLETED",
    "CASH_OUTS_FAILED",
    "CASH_OUTS_RETURNED",
    "CHARGES_EXPIRED",
    "CONTENT_TYPE",
    "INFRACTIONS",
    "MULTIPROCESS_DIR",
    "POOL_CAPACITY",
    "POOL_IN_USE",
    "POOL_OPEN",
    "REFUNDS",
    "WEBHOOK_ATTEMPTS",
    "Exposition",
    "observe_request",
    "process_exiting",
]

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROCESS_DIR) and not os.path.isdir(os.environ[MULTIPROCESS_DIR]):
    # Said before the first instrument below, which would fail on it with a traceback.
    raise SettingsError(
        f"{MULTIPROCESS_DIR} must name an existing directory, shared by every process "
        "whose metrics /metrics sums (docs/operations.md)"
    )
# No `_created` series beside each counter: the text format shows them as more series,
# and counter resets are found without them.
disable_created_metrics()  # type: ignore[no-untyped-call]
CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "connectpsp_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "connectpsp_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CASH_OUTS_ACCEPTED = Counter("connectpsp_cash_outs_accepted", "Cash-outs accepted (202)")
CASH_OUTS_COMPLETED = Counter("connectpsp_cash_outs_completed", "Cash-outs settled (COMPLETED)")
CASH_OUTS_FAILED = Counter(
    "connectpsp_cash_outs_failed", "Cash-outs that FAILED, by failure code", ["code"]
)
CASH_OUTS_RETURNED = Counter(
    "connectpsp_cash_outs_returned",
    "Returns of settled cash-outs credited back, by SPI reason",
    ["reason"],
)
CASH_INS_RECEIVED = Counter("connectpsp_cash_ins_received", "Pix received and credited")
CASH_INS_REFUSED = Counter(
    "connectpsp_cash_ins_refused", "Pix received and refused, by SPI reason", ["reason"]
)
CHARGES_EXPIRED = Counter("connectpsp_charges_expired", "Dynamic charges that expired unpaid")
REFUNDS = Counter(
    "connectpsp_refunds",
    "Refunds of received Pix that ended, by outcome (completed, failed) and SPI reason",
    ["outcome", "reason"],
)
INFRACTIONS = Counter(
    "connectpsp_infractions",
    "MED reports against Pix received, by step: reported, accepted, rejected",
    ["step"],
)
WEBHOOK_ATTEMPTS = Counter(
    "connectpsp_webhook_attempts",
    "Webhook delivery attempts recorded, by outcome: delivered, retrying (failed, will be "
    "tried again), given_up (failed for the last time), crashed (not recorded; made again)",
    ["outcome"],
)
# Summed over the live processes in multiprocess mode.
POOL_CAPACITY = Gauge(
    "connectpsp_db_pool_capacity",
    "Database connections the pools may open (size plus overflow)",
    multiprocess_mode="livesum",
)
POOL_OPEN = Gauge(
    "connectpsp_db_pool_connections_open",
    "Database connections open, idle or in use",
    multiprocess_mode="livesum",
)
POOL_IN_USE = Gauge(
    "connectpsp_db_pool_connections_in_use",
    "Database connections checked out of the pools",
    multiprocess_mode="livesum",
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The labelled children by labels: the library's own look-up validates and locks each
# time, and this runs for every request.
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request; ``route`` is its template (``/cash-out/{internalCode}``),
    never the raw path, so that the labels stay few."""
    if method not in _METHODS:
        method = "OTHER"
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = (
            REQUESTS.labels(method, route, str(status)),
            REQUEST_SECONDS.labels(method, route),
        )
        _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


class Exposition:
    """What ``/metrics`` answers: this process's instruments (or every process's, in
    multiprocess mode) and ``collectors`` read at each scrape."""

    def __init__(self, collectors: Iterable[Collector] = ()) -> None:
        self._instruments: Collector = REGISTRY
        directory = os.environ.get(MULTIPROCESS_DIR)
        if directory:
            summed = CollectorRegistry()
            multiprocess.MultiProcessCollector(summed, path=directory)  # type: ignore[no-untyped-call]
            self._instruments = summed
        self._scraped = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            self._scraped.register(collector)

    def render(self) -> bytes:
        return generate_latest(self._instruments) + generate_latest(self._scraped)


def process_exiting() -> None:
    """In multiprocess mode, drop this process's gauges from the sums (its counters stay:
    what it counted happened)."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory:
        multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
