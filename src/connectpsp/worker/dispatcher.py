"""The webhook dispatcher: delivers every queued webhook at least once, signed, with
retries.

Delivery state lives in the database (``webhook_deliveries``), so retries go on across
restarts. The dispatcher claims a few rounds of attempts per endpoint ahead, never more
than its lease covers, so that an endpoint's next attempt starts as soon as a slot is
free without waiting on the database; a delivery whose lease lapsed while it waited is
not sent. Attempts run as tasks of one event loop. A worker that dies mid-attempt loses
the lease and the attempt is made again (at least once, never lost). Receivers
deduplicate on ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from connectpsp import metrics
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import ConnectPSPError
from connectpsp.domain.webhooks import (
    Attempt,
    AttemptResult,
    DeliveryStatus,
    DeliveryTask,
    DueDelivery,
    next_attempt_delay,
    sign,
)
from connectpsp.service.clients import webhook_context
from connectpsp.service.endpoints import endpoint_secret_context
from connectpsp.service.ports import (
    Cipher,
    Logger,
    SendResult,
    UnitOfWork,
    UnitOfWorkFactory,
    WebhookSender,
)

__all__ = ["WebhookDispatcher"]


class WebhookDispatcher:
    """Delivers queued webhooks: claims due deliveries, sends them signed on one event
    loop, records every attempt, and retries on the policy's schedule."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        clock: Clock,
        cipher: Cipher,
        sender: WebhookSender,
        log: Logger,
        concurrency: int = 256,
        per_endpoint: int = 8,
        lease: timedelta = timedelta(seconds=90),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._cipher = cipher
        self._sender = sender
        self._log = log
        # Deliveries claimed at once, across endpoints (waiting for a slot or under way).
        self._concurrency = concurrency
        # Attempts under way at once to one endpoint (or cash-out URL).
        self._per_endpoint = per_endpoint
        # A claimed delivery waits for its endpoint's slot, so a target may have only as
        # many claimed as can start, one round of attempts after another, while the
        # lease still covers the last one's whole attempt; and no more than
        # _ROUNDS_AHEAD rounds: a dispatcher that dies leaves what it claimed to wait
        # for the end of the lease.
        rounds = min(_ROUNDS_AHEAD, int(lease.total_seconds() // sender.timeout) - 1)
        self._per_target = per_endpoint * max(1, rounds)
        self._lease = lease
        # Claimed deliveries, per target: the claim limits count these.
        self._in_flight: Counter[str] = Counter()
        # And by delivery: one of ours is never claimed again, even if its lease lapsed.
        self._sending: set[str] = set()
        self._in_flight_lock = threading.Lock()
        self._dispatching = threading.Lock()
        self._on_free: Callable[[], None] = lambda: None
        # Attempts that have ended, waiting to be recorded together.
        self._finished: list[tuple[DeliveryTask, SendResult, datetime]] = []
        self._closing = False
        self._fresh = False  # deliveries were queued here since the last look
        self._discover_every = 0.05
        self._next_discovery = 0.0
        # The sending loop and what only it touches: a slot gate per target, how many
        # deliveries wait on each, the attempts' tasks, and those a close left unsent.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._waiting: Counter[str] = Counter()
        self._attempts: set[asyncio.Task[None]] = set()
        self._unsent: list[str] = []

    def notify_queued(self) -> None:
        """Deliveries were queued (published, retried, replayed): look for them now."""
        self._fresh = True

    # dispatch --------------------------------------------------------------------------

    def wake_when_free(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever an attempt ends: the dispatcher may start another."""
        self._on_free = wake

    def dispatch_due(self, limit: int = 256) -> int:
        """Record the attempts that have ended and claim due deliveries, in one
        transaction; hand the claimed ones to the sending loop without waiting for their
        receivers. The number recorded and claimed."""
        with self._dispatching:
            with self._in_flight_lock:
                finished, self._finished = self._finished, []
                room = min(limit, self._concurrency - len(self._sending))
                claimed = dict(self._in_flight)
                sending = set(self._sending)
            tasks: list[tuple[DeliveryTask, float]] = []
            now = self._clock.now()
            try:
                with self._uow(write=True) as uow:
                    self._record(uow, finished)
                    if room > 0 and not self._closing:
                        tasks = self._claim(uow, now, room, claimed, sending)
                    uow.commit()
            finally:  # if the database refused, the leases run out: attempts made again
                with self._in_flight_lock:
                    for task, _, _ in finished:
                        self._release(task)
            self._log_attempts(finished)
            if tasks:
                self._start(tasks)
            return len(finished) + len(tasks)

    def _claim(
        self,
        uow: UnitOfWork,
        now: datetime,
        room: int,
        claimed: dict[str, int],
        sending: set[str],
    ) -> list[tuple[DeliveryTask, float]]:
        """Lease up to ``room`` due deliveries, oldest first, none past its target's
        share of claims; each with the ``time.monotonic()`` its lease ends at.

        Not a look over every due delivery at each attempt's end: that would pass over
        the queued backlog of the targets being served, again and again. A target this
        dispatcher serves is refilled once it is down to half its share, by a look at
        its own deliveries; other targets are looked for when deliveries were queued in
        this process, and otherwise at most every ``_discover_every`` (which doubles,
        up to a second, while such looks find nothing)."""
        due: list[DueDelivery] = []
        for target, n in claimed.items():
            if n <= self._per_target // 2:
                due += uow.webhooks.due_deliveries(
                    now=now, limit=self._per_target - n, skip=(), only=target
                )
        fresh, self._fresh = self._fresh, False
        if fresh or not claimed or time.monotonic() >= self._next_discovery:
            found = uow.webhooks.due_deliveries(now=now, limit=room, skip=set(claimed))
            quiet = not found and not fresh
            self._discover_every = min(1.0, self._discover_every * 2) if quiet else 0.05
            self._next_discovery = time.monotonic() + self._discover_every
            due += found
        # Each is leased for as long as its place in its target's queue needs: the
        # rounds of attempts before it and its own, and one more for slack. A dispatcher
        # that dies strands what it claimed for no longer than that.
        taken = Counter(claimed)
        chosen = 0
        by_lease: dict[float, list[str]] = {}
        for delivery in sorted(due, key=lambda d: d.due_at):
            if chosen == room:
                break
            place = taken[delivery.target]
            if delivery.id not in sending and place < self._per_target:
                taken[delivery.target] += 1
                chosen += 1
                turns = place // self._per_endpoint + 2
                lease = min(self._lease.total_seconds(), turns * self._sender.timeout)
                by_lease.setdefault(lease, []).append(delivery.id)
        leased: list[tuple[DeliveryTask, float]] = []
        for lease, ids in by_lease.items():
            until = now + timedelta(seconds=lease)
            ends = time.monotonic() + lease
            leased += [
                (task, ends) for task in uow.webhooks.lease_deliveries(ids, lease_until=until)
            ]
        return leased

    def _start(self, tasks: list[tuple[DeliveryTask, float]]) -> None:
        with self._in_flight_lock:
            for task, _ in tasks:
                self._in_flight[task.target] += 1
                self._sending.add(task.id)
        self._sending_loop().call_soon_threadsafe(self._launch, tasks)

    def _sending_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._loop_thread = threading.Thread(
                target=self._send_forever, name="connectpsp-webhook-sender", daemon=True
            )
            self._loop_thread.start()
        return self._loop

    def _send_forever(self) -> None:
        """The sending loop's thread (a frame of our own, so that profiles find it)."""
        assert self._loop is not None
        self._loop.run_forever()

    def _launch(self, tasks: list[tuple[DeliveryTask, float]]) -> None:
        """On the sending loop: one asyncio task per claimed delivery."""
        for task, lease_end in tasks:
            self._waiting[task.target] += 1
            running = asyncio.get_running_loop().create_task(self._run(task, lease_end))
            self._attempts.add(running)
            running.add_done_callback(self._attempts.discard)

    async def _run(self, task: DeliveryTask, lease_end: float) -> None:
        """One attempt, once its endpoint has a free slot. Its result waits for the
        dispatcher to record it with the others that ended meanwhile."""
        gate = self._gates.get(task.target)
        if gate is None:
            gate = self._gates[task.target] = asyncio.Semaphore(self._per_endpoint)
        finished: tuple[DeliveryTask, SendResult, datetime] | None = None
        try:
            async with gate:
                # Closing, or the lease lapsed while it waited (another dispatcher may
                # hold it now): not sent here; it is claimed again once its lease is out.
                if not self._closing and time.monotonic() < lease_end:
                    at = self._clock.now()
                    finished = (task, await self._attempt(task, at), at)
                elif self._closing and time.monotonic() < lease_end:
                    self._unsent.append(task.id)  # still ours: its lease is given back
        except Exception as error:  # the lease runs out and the attempt is made again
            metrics.WEBHOOK_ATTEMPTS.labels("crashed").inc()
            self._log.warning(
                "webhook_attempt_crashed",
                delivery_id=task.id,
                error_type=type(error).__name__,
                exc_info=error,
            )
        finally:
            self._waiting[task.target] -= 1
            if not self._waiting[task.target]:
                del self._waiting[task.target]
                del self._gates[task.target]
            with self._in_flight_lock:
                if finished is not None:
                    self._finished.append(finished)
                    ended = len(self._finished)
                else:
                    self._release(task)
                    ended = 0
            # Wake the dispatcher for a batch of results, not for each: one commit
            # records them all. The first one of a batch waits at most _BATCH_WAIT.
            if not ended or ended >= _BATCH:
                self._on_free()
            elif ended == 1:
                asyncio.get_running_loop().call_later(_BATCH_WAIT, self._on_free)

    def _release(self, task: DeliveryTask) -> None:
        """Free the delivery's claim (the caller holds ``_in_flight_lock``)."""
        self._sending.discard(task.id)
        self._in_flight[task.target] -= 1
        if not self._in_flight[task.target]:
            del self._in_flight[task.target]

    async def _attempt(self, task: DeliveryTask, now: datetime) -> SendResult:
        timestamp = int(now.timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": "ConnectPSP-Webhooks/1",
            "webhook-id": task.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                self._secrets(task, now), task.message_id, timestamp, task.body
            ),
        }
        return await self._sender.send(task.url, headers, task.body)

    def _secrets(self, task: DeliveryTask, now: datetime) -> list[str]:
        """An endpoint's deliveries are signed with its secret (and the previous one in a
        rotation's overlap); a record's own webhookUrl's with the client's."""
        if task.endpoint_id is None:
            return [
                self._cipher.decrypt(
                    task.client_secret_enc, context=webhook_context(task.client_id)
                )
            ]
        assert task.endpoint_secret_enc is not None
        context = endpoint_secret_context(task.endpoint_id)
        live = [self._cipher.decrypt(task.endpoint_secret_enc, context=context)]
        expires = task.previous_secret_expires_at
        if task.previous_secret_enc and expires is not None and expires > now:
            live.append(self._cipher.decrypt(task.previous_secret_enc, context=context))
        return live

    @staticmethod
    def _record(uow: UnitOfWork, finished: list[tuple[DeliveryTask, SendResult, datetime]]) -> None:
        results: list[AttemptResult] = []
        for task, result, at in finished:
            made = task.attempts + 1
            attempt = Attempt(at, result.status_code, result.latency_ms, result.body, result.error)
            status, next_at = _outcome(result, made, at)
            results.append(AttemptResult(task.id, attempt, status, next_at))
        uow.webhooks.record_attempts(results)
        for task, result, at in finished:
            # 410 from an endpoint disables it; from a cash-out's webhookUrl it ends only
            # this delivery (the URL is the cash-out's, and the next cash-out may name it).
            if result.status_code == 410 and task.endpoint_id is not None:
                gone = "the receiver answered 410 Gone"
                uow.webhooks.disable_endpoint(task.endpoint_id, gone, at)

    def _log_attempts(self, finished: list[tuple[DeliveryTask, SendResult, datetime]]) -> None:
        """A line per attempt, once recorded: DEBUG for a delivered one (the database
        keeps every attempt; at thousands a second these lines would be most of the log
        and a good part of the dispatcher's CPU), WARNING for a failed one that will be
        tried again, ERROR for the last one, after which the message is given up."""
        outcomes: Counter[str] = Counter()
        for task, result, at in finished:
            made = task.attempts + 1
            if result.ok:
                outcomes["delivered"] += 1
                self._log.debug("webhook_delivered", delivery_id=task.id, client_id=task.client_id)
                continue
            status, next_at = _outcome(result, made, at)
            given_up = status is DeliveryStatus.FAILED
            outcomes["given_up" if given_up else "retrying"] += 1
            (self._log.error if given_up else self._log.warning)(
                "webhook_given_up" if given_up else "webhook_attempt_failed",
                delivery_id=task.id,
                message_id=task.message_id,
                client_id=task.client_id,
                endpoint_id=task.endpoint_id,
                status_code=result.status_code,
                error=result.error,
                attempt=made,
                next_attempt_at=next_at.isoformat() if next_at else None,
            )
        for outcome, n in outcomes.items():
            metrics.WEBHOOK_ATTEMPTS.labels(outcome).inc(n)

    def close(self) -> None:
        """Let the attempts under way end (each within the sender's timeout); those still
        waiting for a slot are not sent, and their leases are given back."""
        self._closing = True
        if self._loop is not None and self._loop_thread is not None:
            ended = asyncio.run_coroutine_threadsafe(self._ended(), self._loop)
            with contextlib.suppress(Exception):
                ended.result(timeout=self._sender.timeout + 5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join()
            self._sender.close()
            self._loop.close()
            self._loop = None
        with contextlib.suppress(ConnectPSPError):  # unrecorded attempts are made again
            with self._uow(write=True) as uow:
                if self._unsent:
                    uow.webhooks.unlease(self._unsent)
                uow.commit()
            self._unsent = []
            self.dispatch_due()

    async def _ended(self) -> None:
        await asyncio.gather(*self._attempts, return_exceptions=True)


_ROUNDS_AHEAD = 5
_BATCH = 32  # ended attempts that wake the dispatcher at once
_BATCH_WAIT = 0.01  # seconds the first of them waits for others to end


def _outcome(result: SendResult, made: int, at: datetime) -> tuple[DeliveryStatus, datetime | None]:
    """The delivery's status after attempt number ``made``, and when to try next."""
    if result.ok:
        return DeliveryStatus.SUCCEEDED, None
    if result.status_code == 410:  # Gone: final, whoever answered it
        return DeliveryStatus.FAILED, None
    honoured = result.retry_after if result.status_code in (429, 503) else None
    wait = next_attempt_delay(made, honoured)
    if wait is None:
        return DeliveryStatus.FAILED, None
    return DeliveryStatus.PENDING, at + wait
