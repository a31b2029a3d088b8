"""fraud and risk checks: each client's own limits, every decision with its checks, and
the payees each client has paid

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_cash_outs_per_minute", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_amount_per_hour", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("new_payee_limit", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("night_limit", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "night_window", sa.String(length=11), nullable=False, server_default="20:00-06:00"
            )
        )
    op.create_table(
        "risk_decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("cash_out_id", sa.String(length=36), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payee", sa.String(length=14), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("checks", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_decisions")),
    )
    op.create_index("ix_risk_decisions_client_at", "risk_decisions", ["client_id", "at"])
    op.create_index("ix_risk_decisions_at", "risk_decisions", ["at"])
    op.create_table(
        "client_payees",
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("payee", sa.String(length=14), nullable=False),
        sa.Column("first_paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("payee", "client_id", name="pk_client_payees"),
    )


def downgrade() -> None:
    op.drop_table("client_payees")
    op.drop_index("ix_risk_decisions_at", table_name="risk_decisions")
    op.drop_index("ix_risk_decisions_client_at", table_name="risk_decisions")
    op.drop_table("risk_decisions")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("night_window")
        batch_op.drop_column("night_limit")
        batch_op.drop_column("new_payee_limit")
        batch_op.drop_column("max_amount_per_hour")
        batch_op.drop_column("max_cash_outs_per_minute")
