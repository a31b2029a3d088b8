"""SQL storage for webhooks: the one repository a unit of work binds
(``service.ports.WebhookRepository``), made of the endpoints' storage and the
deliveries' (messages, deliveries, attempts), which share its connection."""

from __future__ import annotations

from connectpsp.adapters.storage.webhook_deliveries import SqlWebhookDeliveries
from connectpsp.adapters.storage.webhook_endpoints import SqlWebhookEndpoints

__all__ = ["SqlWebhooks"]


class SqlWebhooks(SqlWebhookEndpoints, SqlWebhookDeliveries):
    """Endpoints and deliveries on one connection: ``SqlWebhooks(conn)``."""
