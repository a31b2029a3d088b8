"""refunds: Pix received that clients send back

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cash_in_refunds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("return_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("charge_id", sa.String(length=36), nullable=True),
        sa.Column("internal_code", sa.String(length=10), nullable=True),
        sa.Column("end_to_end_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=10), nullable=False),
        sa.Column("description", sa.String(length=140), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("webhook_url", sa.String(length=2048), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_reason", sa.String(length=8), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_cash_in_refunds_amount")),
        sa.CheckConstraint(
            "status IN ('PROCESSING', 'COMPLETED', 'FAILED')",
            name=op.f("ck_cash_in_refunds_status"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_cash_in_refunds_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["charges.id"], name=op.f("fk_cash_in_refunds_charge_id_charges")
        ),
        sa.ForeignKeyConstraint(
            ["end_to_end_id"],
            ["cash_ins.end_to_end_id"],
            name=op.f("fk_cash_in_refunds_end_to_end_id_cash_ins"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_in_refunds")),
        sa.UniqueConstraint("return_id", name=op.f("uq_cash_in_refunds_return_id")),
    )
    op.create_index(
        "ix_cash_in_refunds_payment", "cash_in_refunds", ["end_to_end_id", "requested_at"]
    )
    op.create_index("ix_cash_in_refunds_client", "cash_in_refunds", ["client_id", "requested_at"])


def downgrade() -> None:
    op.drop_index("ix_cash_in_refunds_client", table_name="cash_in_refunds")
    op.drop_index("ix_cash_in_refunds_payment", table_name="cash_in_refunds")
    op.drop_table("cash_in_refunds")
