"""The worker loop. It runs in a thread of ``connectpsp serve``, or alone as
``connectpsp worker`` so that operators can run several (on PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from connectpsp.domain.errors import StorageUnavailable
from connectpsp.logs import get_logger

__all__ = ["Step", "Worker", "every"]

log = get_logger("connectpsp.worker")

# Each step claims and runs a batch of due jobs, and says how many it claimed.
Step = Callable[[], int]


def every(interval: timedelta, step: Step) -> Step:
    """``step``, run at most once per ``interval`` (housekeeping); 0 the other times."""
    next_run = 0.0

    def run() -> int:
        nonlocal next_run
        if time.monotonic() < next_run:
            return 0
        next_run = time.monotonic() + interval.total_seconds()
        return step()

    return run


class Worker:
    """Runs its steps until stopped. An idle worker sleeps ``poll`` or until woken; a
    stop lets the job in hand finish (graceful SIGTERM).

    ``beside`` are workers that start, wake and stop with this one, each in a thread of
    its own: a step that waits on the network (webhook delivery) never holds up the
    steps of another loop (settlement)."""

    def __init__(
        self,
        steps: Sequence[Step],
        *,
        poll: timedelta,
        name: str = "connectpsp-worker",
        beside: Sequence[Worker] = (),
    ) -> None:
        self._steps = list(steps)
        self._poll = poll.total_seconds()
        self._name = name
        self._beside = list(beside)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()
        for other in self._beside:
            other.wake()

    def run(self) -> None:
        """Run in this thread, and the workers beside this one in theirs, until stopped."""
        for other in self._beside:
            other.start()
        try:
            self._loop()
        finally:
            for other in self._beside:
                other.stop()

    def _loop(self) -> None:
        log.info("worker_started", worker=self._name)
        failures = 0
        # While one step is busy the loop does not sleep; a step that found nothing is
        # asked again a poll later, not at every turn: each ask is a write transaction
        # (a claim), and on SQLite it queues with the API's writers. After a sleep every
        # step is asked.
        idle_until = [0.0] * len(self._steps)
        while not self._stop.is_set():
            self._wake.clear()
            try:
                busy = 0
                for i, step in enumerate(self._steps):
                    now = time.monotonic()
                    if now < idle_until[i]:
                        continue
                    done = step()
                    idle_until[i] = 0.0 if done else now + self._poll
                    busy += done
                failures = 0
            except StorageUnavailable as error:
                failures += 1
                busy = 0
                log.warning(
                    "worker_database_unavailable",
                    retry_in_s=min(failures, 10),
                    error_type=type(error).__name__,  # StorageConflict: a lost race
                    sqlstate=getattr(getattr(error.__cause__, "orig", None), "sqlstate", None),
                )
                self._stop.wait(min(failures, 10))
            except Exception as error:  # keep the loop alive; the job's lease will expire
                failures += 1
                busy = 0
                log.error("worker_step_failed", error_type=type(error).__name__, exc_info=error)
                self._stop.wait(min(failures, 10))
            if not busy:
                self._wake.wait(self._poll)
                idle_until = [0.0] * len(self._steps)
        log.info("worker_stopped", worker=self._name)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._wake.set()
        for other in self._beside:
            other.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
