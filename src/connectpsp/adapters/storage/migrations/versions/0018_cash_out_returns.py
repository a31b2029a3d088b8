"""returns: money of our cash-outs that payees' banks sent back

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cash_out_returns",
        sa.Column("return_id", sa.String(length=32), nullable=False),
        sa.Column("cash_out_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=4), nullable=False),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_cash_out_returns_amount")),
        sa.ForeignKeyConstraint(
            ["cash_out_id"],
            ["cash_outs.id"],
            name=op.f("fk_cash_out_returns_cash_out_id_cash_outs"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_cash_out_returns_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("return_id", name=op.f("pk_cash_out_returns")),
    )
    op.create_index(
        "ix_cash_out_returns_cash_out", "cash_out_returns", ["cash_out_id", "returned_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_cash_out_returns_cash_out", table_name="cash_out_returns")
    op.drop_table("cash_out_returns")
