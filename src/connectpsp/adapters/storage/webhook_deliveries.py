"""SQL storage for webhook messages, their deliveries and the attempts at each."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, or_, select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage import webhook_queue as queue
from connectpsp.adapters.storage.db import insert_rows
from connectpsp.adapters.storage.webhook_endpoints import endpoint_live
from connectpsp.domain.ids import ordered_id
from connectpsp.domain.webhooks import (
    Attempt,
    AttemptResult,
    DeliveryStatus,
    DeliveryTask,
    DeliveryView,
    DueDelivery,
    Message,
    MessageShape,
)
from connectpsp.service.ports import ClientDelivery

__all__ = ["SqlWebhookDeliveries"]


class SqlWebhookDeliveries:
    """Messages (an event's body, kept for replays), deliveries (a message to one target)
    and their attempts: the dispatcher's queue, its leases and its record."""

    def __init__(self, conn: Connection) -> None:
        self._c = conn
        # Messages and deliveries queued in this transaction, not yet written (``flush``).
        self._messages: list[dict[str, Any]] = []
        self._deliveries: list[dict[str, Any]] = []

    def add_message(self, message: Message) -> None:
        self._messages.append(
            {
                "id": message.id,
                "client_id": message.client_id,
                "event_type": message.event_type,
                "shape": message.shape.value,
                "subject_kind": message.subject_kind,
                "subject_id": message.subject_id,
                "body": message.body,
                "created_at": message.created_at,
            }
        )

    def add_delivery(
        self, message: Message, url: str, endpoint_id: str | None, at: datetime
    ) -> str:
        delivery_id = ordered_id(at)
        self._deliveries.append(
            {
                "id": delivery_id,
                "message_id": message.id,
                "client_id": message.client_id,
                "endpoint_id": endpoint_id,
                "url": url,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": at,
                "created_at": at,
                "updated_at": at,
            }
        )
        return delivery_id

    def flush(self) -> None:
        """Write the messages and deliveries queued so far: one ``executemany`` each,
        whatever their number (a settled batch's events are thousands of rows). The
        unit of work calls it before committing; every statement here that reads or
        changes deliveries calls it first, so the transaction sees its own."""
        if self._messages:
            messages, self._messages = self._messages, []
            insert_rows(self._c, t.webhook_messages, messages)
        if self._deliveries:
            deliveries, self._deliveries = self._deliveries, []
            insert_rows(self._c, t.webhook_deliveries, deliveries)

    def messages_between(
        self, client_id: str, shape: MessageShape, since: datetime, until: datetime
    ) -> list[Message]:
        self.flush()
        m = t.webhook_messages.c
        rows = self._c.execute(
            select(t.webhook_messages)
            .where(
                m.client_id == client_id,
                m.shape == shape.value,
                m.created_at >= since,
                m.created_at < until,
            )
            .order_by(m.created_at, m.id)
        ).all()
        return [_message(r) for r in rows]

    def due_deliveries(
        self, *, now: datetime, limit: int, skip: Collection[str], only: str | None = None
    ) -> list[DueDelivery]:
        """Unleased due deliveries, oldest first, to live endpoints (or to a cash-out's own
        URL), none to a target in ``skip``; with ``only``, to that target alone. On
        PostgreSQL they stay locked until commit, and concurrent dispatchers skip each
        other's."""
        self.flush()
        return queue.due_deliveries(self._c, now=now, limit=limit, skip=skip, only=only)

    def lease_deliveries(self, ids: list[str], *, lease_until: datetime) -> list[DeliveryTask]:
        """Lease ``ids`` (from ``due_deliveries``, in this transaction) for an attempt."""
        self.flush()
        return queue.lease_deliveries(self._c, ids, lease_until=lease_until)

    def record_attempts(self, results: list[AttemptResult]) -> None:
        """Record attempts and their deliveries' new status, in two ``executemany``.
        Only a pending delivery takes its result: one disabled or deleted meanwhile
        stays as it is."""
        self.flush()
        queue.record_attempts(self._c, results)

    def unlease(self, ids: list[str]) -> None:
        """Give back leases taken for attempts that were not made."""
        self.flush()
        queue.unlease(self._c, ids)

    def deliveries(
        self, client_id: str, status: DeliveryStatus | None, limit: int
    ) -> list[DeliveryView]:
        self.flush()
        found = self._views(client_id, status, limit)
        return [v.delivery for v in found]

    def failed_deliveries(self, client_id: str | None, limit: int) -> list[ClientDelivery]:
        self.flush()
        return self._views(client_id, DeliveryStatus.FAILED, limit)

    def _views(
        self, client_id: str | None, status: DeliveryStatus | None, limit: int
    ) -> list[ClientDelivery]:
        d, m = t.webhook_deliveries.c, t.webhook_messages.c
        query = (
            select(t.webhook_deliveries, m.event_type)
            .join(t.webhook_messages, m.id == d.message_id)
            .order_by(d.created_at.desc(), d.id)
            .limit(limit)
        )
        if client_id is not None:
            query = query.where(d.client_id == client_id)
        if status is not None:
            query = query.where(d.status == status.value)
        return delivery_views(self._c, self._c.execute(query).all())

    def delivery_client(self, delivery_id: str) -> str | None:
        self.flush()
        d = t.webhook_deliveries.c
        found = self._c.execute(select(d.client_id).where(d.id == delivery_id)).scalar()
        return None if found is None else str(found)

    def delivery_endpoint_live(self, client_id: str, delivery_id: str) -> bool | None:
        """None if the client has no such delivery; else whether it may still be sent:
        its endpoint is enabled and not deleted, or it goes to a cash-out's own URL."""
        self.flush()
        d = t.webhook_deliveries.c
        row = self._c.execute(
            select(
                d.endpoint_id, or_(d.endpoint_id.is_(None), endpoint_live()).label("live")
            ).where(d.id == delivery_id, d.client_id == client_id)
        ).first()
        return None if row is None else bool(row.live)

    def requeue(self, client_id: str, delivery_id: str, at: datetime) -> bool:
        self.flush()
        d = t.webhook_deliveries.c
        done = self._c.execute(
            update(t.webhook_deliveries)
            .where(
                d.id == delivery_id,
                d.client_id == client_id,
                # not while an attempt is under way: it would be sent twice at once
                or_(d.locked_until.is_(None), d.locked_until < at),
                or_(d.endpoint_id.is_(None), endpoint_live()),
            )
            .values(
                status=DeliveryStatus.PENDING.value,
                next_attempt_at=at,
                locked_until=None,
                updated_at=at,
            )
        )
        return done.rowcount == 1


def _message(r: Row[Any]) -> Message:
    return Message(
        r.id,
        r.client_id,
        r.event_type,
        MessageShape(r.shape),
        r.subject_kind,
        r.subject_id,
        bytes(r.body),
        r.created_at,
    )


def _task(r: Any) -> DeliveryTask:
    return DeliveryTask(
        id=r.id,
        message_id=r.message_id,
        client_id=r.client_id,
        endpoint_id=r.endpoint_id,
        url=r.url,
        body=bytes(r.body),
        attempts=r.attempts,
        endpoint_secret_enc=r.secret_enc,
        previous_secret_enc=r.previous_secret_enc,
        previous_secret_expires_at=r.previous_secret_expires_at,
        client_secret_enc=r.webhook_secret_enc,
    )


def delivery_views(conn: Connection, rows: Sequence[Row[Any]]) -> list[ClientDelivery]:
    """Deliveries (rows of webhook_deliveries with their message's event_type) with
    their attempts, read in one more query."""
    a = t.webhook_attempts.c
    attempts: dict[str, list[Attempt]] = defaultdict(list)
    if rows:
        for r in conn.execute(
            select(t.webhook_attempts).where(a.delivery_id.in_([r.id for r in rows])).order_by(a.id)
        ):
            attempts[r.delivery_id].append(
                Attempt(r.attempted_at, r.status_code, r.latency_ms, r.response_body, r.error)
            )
    return [
        ClientDelivery(
            r.client_id,
            DeliveryView(
                id=r.id,
                message_id=r.message_id,
                event_type=r.event_type,
                endpoint_id=r.endpoint_id,
                url=r.url,
                status=DeliveryStatus(r.status),
                attempts=tuple(attempts[r.id]),
                next_attempt_at=r.next_attempt_at if r.status == "pending" else None,
                created_at=r.created_at,
            ),
        )
        for r in rows
    ]
