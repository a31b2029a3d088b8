"""indexes for the console's cash-out search across clients, and a delivery's message

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_INDEXES = [
    ("ix_cash_outs_requested", "cash_outs", ["requested_at", "id"]),
    ("ix_cash_outs_status_requested", "cash_outs", ["status", "requested_at", "id"]),
    ("ix_cash_outs_payee_requested", "cash_outs", ["payee_document", "requested_at", "id"]),
    ("ix_webhook_deliveries_message", "webhook_deliveries", ["message_id"]),
]


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
