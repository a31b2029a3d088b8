"""Webhooks: client endpoints, publishing events in the transaction that causes them,
and delivering them at least once, signed, with retries.

Delivery state lives in the database (``webhook_deliveries``), so retries go on across
restarts. The dispatcher claims only the deliveries it can start at once (a free thread,
and a free slot for their endpoint), so a claimed delivery is never left waiting while
its lease runs out. A worker that dies mid-attempt loses the lease and the attempt is
made again (at least once, never lost). Receivers deduplicate on ``webhook-id``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from connectpsp.domain.cashout import CashOut, CashOutStatus
from connectpsp.domain.clients import Client
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import (
    ConnectPSPError,
    EndpointDisabled,
    FieldError,
    IdempotencyKeyMismatch,
    NotFound,
    ValidationFailed,
)
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.webhooks import (
    EVENT_TYPES,
    Attempt,
    DeliveryStatus,
    DeliveryTask,
    DeliveryView,
    DueDelivery,
    Endpoint,
    Message,
    MessageShape,
    cash_out_event,
    movement_event,
    new_webhook_secret,
    next_attempt_delay,
    sign,
)
from connectpsp.service.ports import Cipher, Logger, UnitOfWork, UnitOfWorkFactory

__all__ = [
    "BlockedUrl",
    "Created",
    "Rotation",
    "SendResult",
    "UrlGuard",
    "WebhookSender",
    "WebhookService",
    "endpoint_secret_context",
]


class BlockedUrl(Exception):
    """The URL points somewhere webhooks may not go (see ``forbidden_address``)."""


class UrlGuard(Protocol):
    def check(self, url: str) -> None:
        """Raise ``BlockedUrl`` unless every address the URL resolves to is allowed."""
        ...

    def check_literal(self, url: str) -> None:
        """Raise ``BlockedUrl`` if the URL's host is itself a forbidden address (or
        ``localhost``); no DNS lookup, so it may run on a request's path."""
        ...


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    body: str | None  # the first KiB of the answer
    latency_ms: int
    retry_after: timedelta | None = None
    error: str | None = None  # no answer: timeout, refused, blocked address

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(Protocol):
    def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        """POST once, to the address the guard validated, following no redirects."""
        ...


def endpoint_secret_context(endpoint_id: str) -> str:
    return f"webhook-endpoint:{endpoint_id}"


@dataclass(frozen=True)
class Created:
    endpoint: Endpoint
    secret: str
    replayed: bool  # the answer to an earlier request with the same idempotency key


@dataclass(frozen=True)
class Rotation:
    secret: str
    previous_secret_expires_at: datetime
    replayed: bool


def _fingerprint(url: str, events: tuple[str, ...]) -> str:
    request = json.dumps({"url": url, "events": sorted(set(events))})
    return hashlib.sha256(request.encode()).hexdigest()


class WebhookService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        clock: Clock,
        cipher: Cipher,
        participants: ParticipantDirectory,
        sender: WebhookSender,
        guard: UrlGuard,
        encode: Callable[[Any], bytes],
        log: Logger,
        concurrency: int = 32,
        per_endpoint: int = 8,
        lease: timedelta = timedelta(seconds=90),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._cipher = cipher
        self._participants = participants
        self._sender = sender
        self._guard = guard
        self._encode = encode
        self._log = log
        self._concurrency = concurrency
        self._per_endpoint = per_endpoint
        # Must outlast one attempt (resolve, connect, send, read), which starts at once.
        self._lease = lease
        self._pool: ThreadPoolExecutor | None = None
        # Attempts under way, per endpoint (or cash-out URL): the cap counts these.
        self._in_flight: Counter[str] = Counter()
        # And by delivery: one of ours is never claimed again, even if its lease lapsed.
        self._sending: set[str] = set()
        self._in_flight_lock = threading.Lock()
        self._dispatching = threading.Lock()
        self._on_free: Callable[[], None] = lambda: None
        # Attempts that have ended, waiting to be recorded together.
        self._finished: list[tuple[DeliveryTask, SendResult, datetime]] = []

    # endpoints -------------------------------------------------------------------------

    def create_endpoint(
        self, client: Client, url: str, events: list[str] | None, key: str | None = None
    ) -> Created:
        """Register an endpoint. With ``key``, a retry gets the first answer back (the
        same endpoint and its secret) and registers nothing more."""
        chosen = tuple(dict.fromkeys(events)) if events else EVENT_TYPES
        fingerprint = _fingerprint(url, chosen)
        if key is not None:
            with self._uow() as uow:
                earlier = self._created_with(uow, client, key, fingerprint)
            if earlier is not None:
                return earlier
        self._validate(url, chosen)
        endpoint_id = str(uuid.uuid4())
        secret = new_webhook_secret()
        endpoint = Endpoint(
            id=endpoint_id,
            client_id=client.id,
            url=url,
            events=chosen,
            secret_enc=self._cipher.encrypt(secret, context=endpoint_secret_context(endpoint_id)),
            previous_secret_enc=None,
            previous_secret_expires_at=None,
            enabled=True,
            created_at=self._clock.now(),
            create_key=key,
            create_fingerprint=fingerprint if key is not None else None,
        )
        with self._uow(write=True) as uow:
            if not uow.webhooks.add_endpoint(endpoint):
                # A retry with the same key got there first, between our look and now.
                assert key is not None
                earlier = self._created_with(uow, client, key, fingerprint)
                assert earlier is not None
                return earlier
            uow.commit()
        return Created(endpoint, secret, replayed=False)

    def _created_with(
        self, uow: UnitOfWork, client: Client, key: str, fingerprint: str
    ) -> Created | None:
        """The answer to the earlier create with ``key``, if there was one."""
        found = uow.webhooks.endpoints_with_key(client.id, key)
        earlier = next((e for e in found if e.create_key == key), None)
        if found and (earlier is None or earlier.create_fingerprint != fingerprint):
            raise IdempotencyKeyMismatch()  # a rotation's key, or another request's
        if earlier is None:
            return None
        if earlier.deleted:
            raise NotFound(f"The webhook endpoint {earlier.id} this key created was deleted.")
        return Created(earlier, self._current_secret(earlier), replayed=True)

    def _current_secret(self, endpoint: Endpoint) -> str:
        return self._cipher.decrypt(
            endpoint.secret_enc, context=endpoint_secret_context(endpoint.id)
        )

    def _validate(self, url: str, events: tuple[str, ...]) -> None:
        errors = self._url_errors(url)
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if unknown or not events:
            errors.append(FieldError("events", f"must be some of {', '.join(EVENT_TYPES)}"))
        if errors:
            raise ValidationFailed(errors)

    def _url_errors(self, url: str) -> list[FieldError]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
            return [FieldError("url", "must be an absolute http or https URL")]
        try:
            self._guard.check(url)
        except BlockedUrl as blocked:
            return [FieldError("url", str(blocked))]
        return []

    def check_cash_out_url(self, url: str) -> None:
        """A cash-out's ``webhookUrl``, at creation: an address webhooks may not reach is
        refused now (``ValidationFailed``); a host name is checked at each dispatch."""
        try:
            self._guard.check_literal(url)
        except BlockedUrl as blocked:
            raise ValidationFailed([FieldError("webhookUrl", str(blocked))]) from None

    def endpoints(self, client: Client) -> list[Endpoint]:
        with self._uow() as uow:
            return uow.webhooks.endpoints(client.id)

    def delete_endpoint(self, client: Client, endpoint_id: str) -> None:
        with self._uow(write=True) as uow:
            if not uow.webhooks.delete_endpoint(client.id, endpoint_id, self._clock.now()):
                raise NotFound(f"No webhook endpoint {endpoint_id}.")
            uow.commit()

    def rotate_secret(
        self,
        client: Client,
        endpoint_id: str,
        key: str | None = None,
        overlap: timedelta = timedelta(hours=24),
    ) -> Rotation:
        """A new secret; the old one keeps signing alongside it for ``overlap``. With
        ``key``, a retry of the last rotation gets its answer back and rotates nothing."""
        secret = new_webhook_secret()
        expires = self._clock.now() + overlap
        with self._uow(write=True) as uow:
            endpoint = self._rotatable(uow, client, endpoint_id, key)
            if isinstance(endpoint, Rotation):
                return endpoint
            secret_enc = self._cipher.encrypt(secret, context=endpoint_secret_context(endpoint_id))
            if not uow.webhooks.rotate_secret(endpoint_id, secret_enc, expires, key):
                # A retry with the same key rotated it meanwhile: answer as it did.
                again = self._rotatable(uow, client, endpoint_id, key)
                assert isinstance(again, Rotation)
                return again
            uow.commit()
        return Rotation(secret, expires, replayed=False)

    def _rotatable(
        self, uow: UnitOfWork, client: Client, endpoint_id: str, key: str | None
    ) -> Endpoint | Rotation:
        """The endpoint to rotate, or the answer to the rotation that had ``key``."""
        endpoint = uow.webhooks.endpoint(client.id, endpoint_id)
        if endpoint is None:
            raise NotFound(f"No webhook endpoint {endpoint_id}.")
        if key is None:
            return endpoint
        found = uow.webhooks.endpoints_with_key(client.id, key)
        rotated = next((e for e in found if e.id == endpoint_id and e.rotation_key == key), None)
        if rotated is not None:
            assert rotated.previous_secret_expires_at is not None
            return Rotation(self._current_secret(rotated), rotated.previous_secret_expires_at, True)
        if found:  # another endpoint's rotation, or a create
            raise IdempotencyKeyMismatch()
        return endpoint

    def deliveries(
        self, client: Client, status: DeliveryStatus | None, limit: int = 100
    ) -> list[DeliveryView]:
        with self._uow() as uow:
            return uow.webhooks.deliveries(client.id, status, limit)

    def retry(self, client: Client, delivery_id: str) -> None:
        """Make a delivery due now; never one whose endpoint is disabled or deleted."""
        with self._uow(write=True) as uow:
            live = uow.webhooks.delivery_endpoint_live(client.id, delivery_id)
            if live is None:
                raise NotFound(f"No webhook delivery {delivery_id}.")
            if not live:
                raise EndpointDisabled()
            if not uow.webhooks.requeue(client.id, delivery_id, self._clock.now()):
                raise NotFound(f"No webhook delivery {delivery_id}.")
            uow.commit()

    def replay(self, client: Client, endpoint_id: str, since: datetime, until: datetime) -> int:
        """Send again, to one endpoint, every event in [since, until) it subscribes to."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            endpoint = uow.webhooks.endpoint(client.id, endpoint_id)
            if endpoint is None:
                raise NotFound(f"No webhook endpoint {endpoint_id}.")
            if not endpoint.enabled:
                raise EndpointDisabled(
                    f"The webhook endpoint {endpoint_id} is disabled (it answered 410 Gone); "
                    "nothing more is sent to it. Register the URL again."
                )
            messages = [
                m
                for m in uow.webhooks.messages_between(
                    client.id, MessageShape.MOVEMENT, since, until
                )
                if m.event_type in endpoint.events
            ]
            for message in messages:
                uow.webhooks.add_delivery(message, endpoint.url, endpoint.id, now)
            uow.commit()
        return len(messages)

    # publishing ------------------------------------------------------------------------

    def publish(self, uow: UnitOfWork, cash_out: CashOut, at: datetime) -> None:
        """Render a terminal cash-out's events and queue their deliveries, inside the
        caller's transaction: the state change and its webhooks commit together."""
        # To the millisecond, as processingDate shows it: a replay window that starts at
        # an event's processingDate then includes that event, and one that ends there not.
        at = at.replace(microsecond=at.microsecond - at.microsecond % 1000)
        completed = cash_out.status is CashOutStatus.COMPLETED
        event_type = "CASHOUT_COMPLETED" if completed else "CASHOUT_FAILED"
        if cash_out.webhook_url:
            own = self._message(
                cash_out, event_type, MessageShape.CASH_OUT, cash_out_event(cash_out, at), at
            )
            uow.webhooks.add_message(own)
            uow.webhooks.add_delivery(own, cash_out.webhook_url, None, at)
        movement = self._message(
            cash_out,
            event_type,
            MessageShape.MOVEMENT,
            movement_event(cash_out, at, self._participants),
            at,
        )
        uow.webhooks.add_message(movement)
        for endpoint in uow.webhooks.endpoints(cash_out.client_id):
            if endpoint.wants(event_type):
                uow.webhooks.add_delivery(movement, endpoint.url, endpoint.id, at)

    def _message(
        self,
        cash_out: CashOut,
        event_type: str,
        shape: MessageShape,
        payload: dict[str, Any],
        at: datetime,
    ) -> Message:
        return Message(
            id="msg_" + uuid.uuid4().hex,
            client_id=cash_out.client_id,
            event_type=event_type,
            shape=shape,
            cash_out_id=cash_out.id,
            body=self._encode(payload),
            created_at=at,
        )

    # dispatch --------------------------------------------------------------------------

    def wake_when_free(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever an attempt ends: the dispatcher may start another."""
        self._on_free = wake

    def dispatch_due(self, limit: int = 64) -> int:
        """Record the attempts that have ended (in one transaction), then claim the due
        deliveries that can start now and start them without waiting for their
        receivers; the number recorded and started."""
        with self._dispatching:
            recorded = self._record_finished()
            with self._in_flight_lock:
                room = min(limit, self._concurrency - len(self._sending))
                busy = dict(self._in_flight)
                sending = set(self._sending)
            if room <= 0:
                return recorded
            full = {target for target, n in busy.items() if n >= self._per_endpoint}
            now = self._clock.now()
            with self._uow(write=True) as uow:
                due = uow.webhooks.due_deliveries(now=now, limit=room * 4, skip=full)
                chosen = self._startable([d for d in due if d.id not in sending], busy, room)
                tasks = uow.webhooks.lease_deliveries(chosen, lease_until=now + self._lease)
                uow.commit()
            for task in tasks:
                self._start(task)
            return recorded + len(tasks)

    def _startable(self, due: list[DueDelivery], busy: dict[str, int], room: int) -> list[str]:
        """Up to ``room`` of ``due``, oldest first, without passing any endpoint's cap."""
        taken = Counter(busy)
        chosen: list[str] = []
        for delivery in due:
            if len(chosen) == room:
                break
            if taken[delivery.target] < self._per_endpoint:
                taken[delivery.target] += 1
                chosen.append(delivery.id)
        return chosen

    def _start(self, task: DeliveryTask) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._concurrency, "connectpsp-webhook")
        with self._in_flight_lock:
            self._in_flight[task.target] += 1
            self._sending.add(task.id)
        self._pool.submit(self._run, task)

    def _run(self, task: DeliveryTask) -> None:
        """One attempt, in a pool thread. Its result waits for the dispatcher to record
        it with the others that ended meanwhile: one commit for many attempts."""
        finished: tuple[DeliveryTask, SendResult, datetime] | None = None
        try:
            at = self._clock.now()
            finished = (task, self._attempt(task, at), at)
        except Exception as error:  # the lease runs out and the attempt is made again
            self._log.warning(
                "webhook_attempt_crashed",
                delivery_id=task.id,
                error_type=type(error).__name__,
                exc_info=error,
            )
        with self._in_flight_lock:
            if finished is not None:
                self._finished.append(finished)
            else:
                self._release(task)
        self._on_free()

    def _release(self, task: DeliveryTask) -> None:
        """Free the attempt's slot (the caller holds ``_in_flight_lock``)."""
        self._sending.discard(task.id)
        self._in_flight[task.target] -= 1
        if not self._in_flight[task.target]:
            del self._in_flight[task.target]

    def _attempt(self, task: DeliveryTask, now: datetime) -> SendResult:
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
        return self._sender.send(task.url, headers, task.body)

    def _secrets(self, task: DeliveryTask, now: datetime) -> list[str]:
        live = [self._cipher.decrypt(task.secret_enc, context=task.secret_context)]
        expires = task.previous_secret_expires_at
        if task.previous_secret_enc and expires is not None and expires > now:
            live.append(self._cipher.decrypt(task.previous_secret_enc, context=task.secret_context))
        return live

    def _record_finished(self) -> int:
        """Record every attempt that has ended, in one transaction; then free their
        slots. If the database refuses, the leases run out and the attempts are made
        again: at least once."""
        with self._in_flight_lock:
            finished, self._finished = self._finished, []
        if not finished:
            return 0
        try:
            with self._uow(write=True) as uow:
                for task, result, at in finished:
                    self._record(uow, task, result, at)
                uow.commit()
        finally:
            with self._in_flight_lock:
                for task, _, _ in finished:
                    self._release(task)
        for task, result, _ in finished:
            self._log.info(
                "webhook_attempt",
                delivery_id=task.id,
                message_id=task.message_id,
                status_code=result.status_code,
                error=result.error,
                attempt=task.attempts + 1,
            )
        return len(finished)

    @staticmethod
    def _record(uow: UnitOfWork, task: DeliveryTask, result: SendResult, at: datetime) -> None:
        made = task.attempts + 1
        attempt = Attempt(at, result.status_code, result.latency_ms, result.body, result.error)
        status, next_at = _outcome(result, made, at)
        uow.webhooks.record_attempt(task.id, attempt, status=status, next_attempt_at=next_at)
        # 410 from an endpoint disables it; from a cash-out's webhookUrl it ends only this
        # delivery (the URL is the cash-out's, and the next cash-out may name it again).
        if result.status_code == 410 and task.endpoint_id is not None:
            uow.webhooks.disable_endpoint(task.endpoint_id, "the receiver answered 410 Gone", at)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        with contextlib.suppress(ConnectPSPError):  # unrecorded attempts are made again
            self._record_finished()


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
