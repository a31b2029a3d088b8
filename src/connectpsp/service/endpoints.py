"""Webhook endpoints as a client manages them: register, list, delete, rotate a secret,
and look at, retry or replay deliveries.

Registering and rotating take an optional ``X-Idempotency-Key``: both are flows of the
acceptance engine, so a retry gets the first answer (the same endpoint and secret)
and changes nothing, exactly as a retried cash-out does. Their answers hold a signing
secret, so the engine keeps them encrypted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connectpsp.domain.clients import Client
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import (
    ConnectPSPError,
    EndpointDisabled,
    FieldError,
    NotFound,
    PlaceholderUrl,
    ValidationFailed,
)
from connectpsp.domain.ids import new_id
from connectpsp.domain.webhooks import (
    DeliveryStatus,
    DeliveryView,
    Endpoint,
    EndpointCreated,
    MessageShape,
    NewEndpoint,
    RotateSecret,
    SecretRotated,
    is_http_url,
    new_webhook_secret,
    placeholder_host,
)
from connectpsp.service.acceptance import AcceptanceEngine, Decided, Submission
from connectpsp.service.ports import (
    BlockedUrl,
    Cipher,
    ClientDelivery,
    UnitOfWork,
    UnitOfWorkFactory,
    UrlGuard,
)

__all__ = ["SECRET_OVERLAP", "WebhookEndpoints", "endpoint_secret_context"]

# After a rotation the old secret keeps signing, beside the new one, this long.
SECRET_OVERLAP = timedelta(hours=24)


def endpoint_secret_context(endpoint_id: str) -> str:
    return f"webhook-endpoint:{endpoint_id}"


@dataclass
class _Registrations:
    added: list[Endpoint] = field(default_factory=list)


class _RegisterFlow:
    name = "webhook_endpoint"
    refusals: tuple[type[ConnectPSPError], ...] = ()
    secret = True

    def __init__(self, cipher: Cipher) -> None:
        self._cipher = cipher

    def load(
        self, uow: UnitOfWork, batch: Sequence[Submission[NewEndpoint]], now: datetime
    ) -> _Registrations:
        return _Registrations()

    def decide(
        self, state: _Registrations, submission: Submission[NewEndpoint], now: datetime
    ) -> EndpointCreated:
        request = submission.command
        endpoint_id = new_id()
        secret = new_webhook_secret()
        state.added.append(
            Endpoint(
                id=endpoint_id,
                client_id=submission.client.id,
                url=request.url,
                events=request.events,
                secret_enc=self._cipher.encrypt(
                    secret, context=endpoint_secret_context(endpoint_id)
                ),
                previous_secret_enc=None,
                previous_secret_expires_at=None,
                enabled=True,
                created_at=now,
            )
        )
        return EndpointCreated(endpoint_id, request.url, request.events, now, secret)

    def write(self, uow: UnitOfWork, state: _Registrations, now: datetime) -> None:
        for endpoint in state.added:
            uow.webhooks.add_endpoint(endpoint)

    def record(self, result: EndpointCreated) -> dict[str, Any]:
        return {
            "id": result.id,
            "url": result.url,
            "events": list(result.events),
            "createdAt": result.created_at.isoformat(),
            "secret": result.secret,
        }

    def restore(self, record: dict[str, Any]) -> EndpointCreated:
        return EndpointCreated(
            record["id"],
            record["url"],
            tuple(record["events"]),
            datetime.fromisoformat(record["createdAt"]),
            record["secret"],
        )

    def committed(self, results: list[EndpointCreated]) -> None:
        pass


@dataclass
class _Rotations:
    endpoints: dict[tuple[str, str], Endpoint]
    rotated: list[tuple[str, str, datetime]] = field(default_factory=list)


class _RotateFlow:
    name = "webhook_rotate_secret"
    refusals: tuple[type[ConnectPSPError], ...] = ()
    secret = True

    def __init__(self, cipher: Cipher) -> None:
        self._cipher = cipher

    def load(
        self, uow: UnitOfWork, batch: Sequence[Submission[RotateSecret]], now: datetime
    ) -> _Rotations:
        wanted = {(s.client.id, s.command.endpoint_id) for s in batch}
        found = {slot: uow.webhooks.endpoint(*slot) for slot in sorted(wanted)}
        return _Rotations({slot: e for slot, e in found.items() if e is not None})

    def decide(
        self, state: _Rotations, submission: Submission[RotateSecret], now: datetime
    ) -> SecretRotated:
        endpoint_id = submission.command.endpoint_id
        if (submission.client.id, endpoint_id) not in state.endpoints:
            raise NotFound(f"No webhook endpoint {endpoint_id}.")
        secret = new_webhook_secret()
        secret_enc = self._cipher.encrypt(secret, context=endpoint_secret_context(endpoint_id))
        expires = now + SECRET_OVERLAP
        state.rotated.append((endpoint_id, secret_enc, expires))
        return SecretRotated(endpoint_id, secret, expires)

    def write(self, uow: UnitOfWork, state: _Rotations, now: datetime) -> None:
        # In order: a second rotation in the batch keeps the first's secret as previous.
        for endpoint_id, secret_enc, expires in state.rotated:
            uow.webhooks.rotate_secret(endpoint_id, secret_enc, expires)

    def record(self, result: SecretRotated) -> dict[str, Any]:
        return {
            "endpointId": result.endpoint_id,
            "secret": result.secret,
            "previousSecretExpiresAt": result.previous_secret_expires_at.isoformat(),
        }

    def restore(self, record: dict[str, Any]) -> SecretRotated:
        return SecretRotated(
            record["endpointId"],
            record["secret"],
            datetime.fromisoformat(record["previousSecretExpiresAt"]),
        )

    def committed(self, results: list[SecretRotated]) -> None:
        pass


class WebhookEndpoints:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        engine: AcceptanceEngine,
        clock: Clock,
        cipher: Cipher,
        guard: UrlGuard,
        event_types: tuple[str, ...],
        on_queued: Callable[[], None] = lambda: None,
        refuse_placeholders: bool = False,
    ) -> None:
        self._uow = uow
        # The sandbox refuses a webhook URL pasted from the docs with its placeholder host.
        self._refuse_placeholders = refuse_placeholders
        self._engine = engine
        self._clock = clock
        self._guard = guard
        # The event types an endpoint may subscribe to (the publisher's movement shapes).
        self._event_types = event_types
        # Deliveries were queued (a retry, a replay): the dispatcher looks for them now.
        self._on_queued = on_queued
        self._register = _RegisterFlow(cipher)
        self._rotate = _RotateFlow(cipher)

    def create_endpoint(
        self, client: Client, url: str, events: list[str] | None, key: str | None = None
    ) -> Future[Decided[EndpointCreated]]:
        """Register an endpoint for ``events`` (all of them by default). The URL must
        resolve only to addresses webhooks may reach."""
        chosen = tuple(dict.fromkeys(events)) if events else self._event_types
        self._validate(url, chosen)
        return self._engine.submit(self._register, client, key, NewEndpoint(url, chosen))

    def rotate_secret(
        self, client: Client, endpoint_id: str, key: str | None = None
    ) -> Future[Decided[SecretRotated]]:
        """A new secret; the old one keeps signing beside it for ``SECRET_OVERLAP``."""
        return self._engine.submit(self._rotate, client, key, RotateSecret(endpoint_id))

    def _validate(self, url: str, events: tuple[str, ...]) -> None:
        self._refuse_placeholder("url", url)
        errors = self._url_errors(url)
        unknown = sorted(set(events) - set(self._event_types))
        if unknown or not events:
            types = ", ".join(self._event_types)
            errors.append(FieldError("events", f"must be some of {types}"))
        if errors:
            raise ValidationFailed(errors)

    def _url_errors(self, url: str) -> list[FieldError]:
        if not is_http_url(url) or len(url) > 2048:
            return [FieldError("url", "must be an absolute http or https URL")]
        try:
            self._guard.check(url)
        except BlockedUrl as blocked:
            return [FieldError("url", str(blocked))]
        return []

    def check_cash_out_url(self, url: str) -> None:
        """A cash-out's ``webhookUrl``, at creation: an address webhooks may not reach is
        refused now (``ValidationFailed``); a host name is checked at each dispatch."""
        self._refuse_placeholder("webhookUrl", url)
        try:
            self._guard.check_literal(url)
        except BlockedUrl as blocked:
            raise ValidationFailed([FieldError("webhookUrl", str(blocked))]) from None

    def _refuse_placeholder(self, name: str, url: str) -> None:
        host = placeholder_host(url) if self._refuse_placeholders else None
        if host is not None:
            message = f"host {host!r} is a placeholder: put your receiver's URL here" + (
                ", or leave webhookUrl out" if name == "webhookUrl" else ""
            )
            raise PlaceholderUrl(
                [FieldError(name, message)], f"{name} is a placeholder, not an address."
            )

    def endpoints(self, client: Client) -> list[Endpoint]:
        with self._uow() as uow:
            return uow.webhooks.endpoints(client.id)

    def delete_endpoint(self, client: Client, endpoint_id: str) -> None:
        with self._uow(write=True) as uow:
            if not uow.webhooks.delete_endpoint(client.id, endpoint_id, self._clock.now()):
                raise NotFound(f"No webhook endpoint {endpoint_id}.")
            uow.commit()

    def deliveries(
        self, client: Client, status: DeliveryStatus | None, limit: int = 100
    ) -> list[DeliveryView]:
        with self._uow() as uow:
            return uow.webhooks.deliveries(client.id, status, limit)

    def failed(self, client_id: str | None = None, limit: int = 100) -> list[ClientDelivery]:
        """For the PSP's operator: deliveries that ended failed (every scheduled attempt
        failed, the receiver answered 410, or the endpoint is gone), newest first, of one
        client or of all."""
        with self._uow() as uow:
            return uow.webhooks.failed_deliveries(client_id, limit)

    def retry_any(self, delivery_id: str) -> str:
        """``retry`` for the PSP's operator, whatever the client; that client's id."""
        with self._uow() as uow:
            client_id = uow.webhooks.delivery_client(delivery_id)
        if client_id is None:
            raise NotFound(f"No webhook delivery {delivery_id}.")
        self._retry(client_id, delivery_id)
        return client_id

    def retry(self, client: Client, delivery_id: str) -> None:
        """Make a delivery due now; never one whose endpoint is disabled or deleted."""
        self._retry(client.id, delivery_id)

    def _retry(self, client_id: str, delivery_id: str) -> None:
        with self._uow(write=True) as uow:
            live = uow.webhooks.delivery_endpoint_live(client_id, delivery_id)
            if live is None:
                raise NotFound(f"No webhook delivery {delivery_id}.")
            if not live:
                raise EndpointDisabled()
            if not uow.webhooks.requeue(client_id, delivery_id, self._clock.now()):
                raise NotFound(f"No webhook delivery {delivery_id}.")
            uow.commit()
        self._on_queued()

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
        self._on_queued()
        return len(messages)
