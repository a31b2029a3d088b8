"""SQL storage for webhook endpoints and their signing secrets (current and previous)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, exists, insert, select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.webhook_queue import endpoints_of
from connectpsp.domain.webhooks import DeliveryStatus, Endpoint

__all__ = ["SqlWebhookEndpoints", "endpoint_live"]


class SqlWebhookEndpoints:
    """Endpoints; deleting or disabling one fails its pending deliveries, in the same
    transaction."""

    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add_endpoint(self, endpoint: Endpoint) -> None:
        self._c.execute(
            insert(t.webhook_endpoints).values(
                id=endpoint.id,
                client_id=endpoint.client_id,
                url=endpoint.url,
                events=json.dumps(list(endpoint.events)),
                secret_enc=endpoint.secret_enc,
                status="enabled",
                created_at=endpoint.created_at,
            )
        )

    def endpoints(self, client_id: str) -> list[Endpoint]:
        return endpoints_of(self._c, client_id)

    def endpoint(self, client_id: str, endpoint_id: str) -> Endpoint | None:
        e = t.webhook_endpoints.c
        row = self._c.execute(
            select(t.webhook_endpoints).where(
                e.id == endpoint_id, e.client_id == client_id, e.deleted_at.is_(None)
            )
        ).first()
        return _endpoint(row) if row else None

    def delete_endpoint(self, client_id: str, endpoint_id: str, at: datetime) -> bool:
        e = t.webhook_endpoints.c
        done = self._c.execute(
            update(t.webhook_endpoints)
            .where(e.id == endpoint_id, e.client_id == client_id, e.deleted_at.is_(None))
            .values(deleted_at=at)
        )
        if done.rowcount == 1:
            self._fail_pending(endpoint_id, at)
        return done.rowcount == 1

    def rotate_secret(
        self, endpoint_id: str, secret_enc: str, previous_expires_at: datetime
    ) -> None:
        """The current secret becomes the previous one, until ``previous_expires_at``."""
        e = t.webhook_endpoints.c
        self._c.execute(
            update(t.webhook_endpoints)
            .where(e.id == endpoint_id, e.deleted_at.is_(None))
            .values(
                secret_enc=secret_enc,
                # the row's own value, not one read earlier: a rotation just before is kept
                previous_secret_enc=e.secret_enc,
                previous_secret_expires_at=previous_expires_at,
            )
        )

    def disable_endpoint(self, endpoint_id: str, reason: str, at: datetime) -> None:
        e = t.webhook_endpoints.c
        self._c.execute(
            update(t.webhook_endpoints)
            .where(e.id == endpoint_id)
            .values(status="disabled", disabled_reason=reason[:200])
        )
        self._fail_pending(endpoint_id, at)

    def flush(self) -> None:
        """Write what this transaction queued (``SqlWebhooks`` has deliveries queued)."""

    def _fail_pending(self, endpoint_id: str, at: datetime) -> None:
        self.flush()  # deliveries queued in this transaction fail too
        d = t.webhook_deliveries.c
        self._c.execute(
            update(t.webhook_deliveries)
            .where(d.endpoint_id == endpoint_id, d.status == DeliveryStatus.PENDING.value)
            .values(status=DeliveryStatus.FAILED.value, updated_at=at, locked_until=None)
        )


def endpoint_live() -> ColumnElement[bool]:
    """The delivery's endpoint is enabled and not deleted (for a correlated query)."""
    d, e = t.webhook_deliveries.c, t.webhook_endpoints.c
    return exists(
        select(e.id).where(
            and_(e.id == d.endpoint_id, e.status == "enabled", e.deleted_at.is_(None))
        )
    )


def _endpoint(r: Row[Any]) -> Endpoint:
    return Endpoint(
        id=r.id,
        client_id=r.client_id,
        url=r.url,
        events=tuple(json.loads(r.events)),
        secret_enc=r.secret_enc,
        previous_secret_enc=r.previous_secret_enc,
        previous_secret_expires_at=r.previous_secret_expires_at,
        enabled=r.status == "enabled" and r.deleted_at is None,
        created_at=r.created_at,
    )
