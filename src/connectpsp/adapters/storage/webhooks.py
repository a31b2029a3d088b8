"""SQL storage for webhooks: the one repository a unit of work binds
(``service.ports.WebhookRepository``), made of the endpoints' storage and the
deliveries' (messages, deliveries, attempts), which share its connection."""

from __future__ import annotations

from sqlalchemy import Connection

from connectpsp.adapters.storage.webhook_deliveries import SqlWebhookDeliveries
from connectpsp.adapters.storage.webhook_endpoints import SqlWebhookEndpoints

__all__ = ["SqlWebhooks"]


class SqlWebhooks(SqlWebhookEndpoints, SqlWebhookDeliveries):
    """Endpoints and deliveries on one connection: ``SqlWebhooks(conn)``. Deliveries
    are queued and written together (``flush``), before the commit or before a
    statement that would see them, such as failing a deleted endpoint's."""

    def __init__(self, conn: Connection) -> None:
        SqlWebhookDeliveries.__init__(self, conn)

    flush = SqlWebhookDeliveries.flush
