"""The ports webhook delivery needs (``service.ports`` re-exports them): the guard on
where webhooks may go, the sender, and the storage of endpoints, messages and
deliveries."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from connectpsp.domain.webhooks import (
    AttemptResult,
    DeliveryStatus,
    DeliveryTask,
    DeliveryView,
    DueDelivery,
    Endpoint,
    Message,
    MessageShape,
)

__all__ = [
    "BlockedUrl",
    "ClientDelivery",
    "SendResult",
    "UrlGuard",
    "WebhookRepository",
    "WebhookSender",
]


@dataclass(frozen=True)
class ClientDelivery:
    """A delivery and the client it is for: what the PSP's operator lists across clients."""

    client_id: str
    delivery: DeliveryView


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
    timeout: float  # seconds one attempt may take, all of it

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        """POST once, to the address the guard validated, following no redirects."""
        ...

    def close(self) -> None:
        """Close idle connections (once the loop that sent has stopped)."""
        ...


class WebhookRepository(Protocol):
    def add_endpoint(self, endpoint: Endpoint) -> None: ...
    def endpoints(self, client_id: str) -> list[Endpoint]: ...
    def endpoint(self, client_id: str, endpoint_id: str) -> Endpoint | None: ...
    def delete_endpoint(self, client_id: str, endpoint_id: str, at: datetime) -> bool: ...

    def rotate_secret(
        self, endpoint_id: str, secret_enc: str, previous_expires_at: datetime
    ) -> None:
        """The current secret becomes the previous one, until ``previous_expires_at``."""
        ...

    def disable_endpoint(self, endpoint_id: str, reason: str, at: datetime) -> None:
        """Stop sending to it; its pending deliveries fail."""
        ...

    def add_message(self, message: Message) -> None:
        """Queue a message; the transaction's queued messages and deliveries may be
        written together, at the latest when it commits."""
        ...

    def add_delivery(
        self, message: Message, url: str, endpoint_id: str | None, at: datetime
    ) -> str:
        """Queue a pending delivery of ``message``, due at ``at``; its id."""
        ...

    def messages_between(
        self, client_id: str, shape: MessageShape, since: datetime, until: datetime
    ) -> list[Message]: ...

    def due_deliveries(
        self, *, now: datetime, limit: int, skip: Collection[str], only: str | None = None
    ) -> list[DueDelivery]:
        """Unleased due deliveries, oldest first, none to a disabled or deleted endpoint
        nor to a target (endpoint id or URL) in ``skip``; with ``only``, to that target."""
        ...

    def lease_deliveries(self, ids: list[str], *, lease_until: datetime) -> list[DeliveryTask]:
        """Lease deliveries that ``due_deliveries`` found, in the same transaction."""
        ...

    def record_attempts(self, results: list[AttemptResult]) -> None:
        """Record attempts; a delivery no longer pending keeps its status."""
        ...

    def unlease(self, ids: list[str]) -> None:
        """Give back leases taken for attempts that were not made."""
        ...

    def deliveries(
        self, client_id: str, status: DeliveryStatus | None, limit: int
    ) -> list[DeliveryView]: ...

    def delivery_endpoint_live(self, client_id: str, delivery_id: str) -> bool | None:
        """None if the client has no such delivery; else whether it may still be sent."""
        ...

    def failed_deliveries(self, client_id: str | None, limit: int) -> list[ClientDelivery]:
        """Deliveries that ended failed, newest first: one client's, or (None) every
        client's."""
        ...

    def delivery_client(self, delivery_id: str) -> str | None:
        """The id of the client a delivery is for; None if there is no such delivery."""
        ...

    def requeue(self, client_id: str, delivery_id: str, at: datetime) -> bool:
        """Make a delivery due now (a manual retry); False if it is not the client's, its
        endpoint is disabled or deleted, or an attempt is under way."""
        ...
