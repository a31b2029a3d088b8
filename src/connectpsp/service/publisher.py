"""Publishing domain events as webhooks, in the transaction that made them happen.

Each event type has its payload builders, registered by its slice: one for the record's
own ``webhookUrl`` (the tutorial's shape) and one for the client's registered endpoints
(the account-movement shape). Publishing renders each shape once into a message, keyed
by the event's subject, and queues a delivery per receiver; the dispatcher (in
``worker``) sends them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectpsp.domain.events import Event
from connectpsp.domain.ids import ordered_id
from connectpsp.domain.webhooks import Endpoint, Message, MessageShape
from connectpsp.service.ports import UnitOfWork

__all__ = ["Payloads", "Publisher"]

# An event, and the time its payload states (``at`` to the millisecond), to its JSON.
Builder = Callable[[Any, datetime], dict[str, Any]]


@dataclass(frozen=True)
class Payloads:
    """How one event type is rendered: for the record's own URL, and for endpoints."""

    own: Builder | None
    movement: Builder | None


class Publisher:
    def __init__(self, *, encode: Callable[[Any], bytes]) -> None:
        self._encode = encode
        self._payloads: dict[type[Event], Payloads] = {}
        self._on_queued: Callable[[], None] = lambda: None

    def when_queued(self, notify: Callable[[], None]) -> None:
        """Call ``notify`` when publishing queued deliveries (the dispatcher looks now)."""
        self._on_queued = notify

    def register(self, event: type[Event], payloads: Payloads) -> None:
        self._payloads[event] = payloads

    @property
    def event_types(self) -> tuple[str, ...]:
        """The event types endpoints may subscribe to: those with a movement shape."""
        return tuple(e.type for e, p in self._payloads.items() if p.movement is not None)

    def publish(self, uow: UnitOfWork, events: Sequence[Event]) -> None:
        """Render ``events`` and queue their deliveries inside ``uow``'s transaction
        (the repository writes them together). Each client's endpoints are read once."""
        queued = False
        endpoints: dict[str, list[Endpoint]] = {}
        for event in events:
            payloads = self._payloads[type(event)]
            # To the millisecond, as processingDate shows it: a replay window that starts
            # at an event's processingDate then includes that event, and one that ends
            # there not.
            at = event.at.replace(microsecond=event.at.microsecond - event.at.microsecond % 1000)
            if payloads.own is not None and event.webhook_url:
                own = self._message(event, MessageShape.CASH_OUT, payloads.own(event, at), at)
                uow.webhooks.add_message(own)
                uow.webhooks.add_delivery(own, event.webhook_url, None, at)
                queued = True
            if payloads.movement is not None:
                movement = self._message(
                    event, MessageShape.MOVEMENT, payloads.movement(event, at), at
                )
                uow.webhooks.add_message(movement)
                receivers = endpoints.get(event.client_id)
                if receivers is None:
                    receivers = endpoints[event.client_id] = uow.webhooks.endpoints(event.client_id)
                for endpoint in receivers:
                    if endpoint.wants(event.type):
                        uow.webhooks.add_delivery(movement, endpoint.url, endpoint.id, at)
                        queued = True
        if queued:
            self._on_queued()

    def _message(
        self, event: Event, shape: MessageShape, payload: dict[str, Any], at: datetime
    ) -> Message:
        return Message(
            id="msg_" + ordered_id(at).replace("-", ""),
            client_id=event.client_id,
            event_type=event.type,
            shape=shape,
            subject_kind=event.subject_kind,
            subject_id=event.subject_id,
            body=self._encode(payload),
            created_at=at,
        )
