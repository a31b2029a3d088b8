"""indexes for the console's cash-in search and its refunds list, across clients

Revision ID: 0025
Revises: 0023
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_INDEXES = [
    ("ix_cash_ins_received", "cash_ins", ["received_at", "end_to_end_id"]),
    ("ix_cash_ins_payer_received", "cash_ins", ["payer_document", "received_at", "end_to_end_id"]),
    ("ix_cash_ins_txid", "cash_ins", ["txid"]),
    ("ix_balance_blocks_released", "balance_blocks", ["released_at", "end_to_end_id"]),
    ("ix_cash_in_refunds_requested", "cash_in_refunds", ["requested_at", "id"]),
    ("ix_cash_in_refunds_status", "cash_in_refunds", ["status", "requested_at", "id"]),
]


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
