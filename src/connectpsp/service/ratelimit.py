"""Counting failed attempts per key (a clientId, an IP) in a sliding window."""

from __future__ import annotations

import math
import threading
from collections import deque
from datetime import timedelta

from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import RateLimited

__all__ = ["FailureLimiter"]


class FailureLimiter:
    """Refuses a key after ``limit`` failures within ``window``. In memory, per process:
    behind a load balancer each API process counts on its own."""

    def __init__(self, clock: Clock, *, limit: int, window: timedelta) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window.total_seconds()
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str) -> None:
        now = self._clock.now().timestamp()
        with self._lock:
            for key in keys:
                times = self._prune(key, now)
                if len(times) >= self._limit:
                    wait = math.ceil(times[0] + self._window - now)
                    raise RateLimited(max(wait, 1))

    def failed(self, *keys: str) -> None:
        now = self._clock.now().timestamp()
        with self._lock:
            for key in keys:
                self._prune(key, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _prune(self, key: str, now: float) -> deque[float]:
        if len(self._failures) > 100_000:  # bound memory under a spray of random keys
            cutoff = now - self._window
            self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > cutoff}
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times
