"""MED: fraud reports against Pix received, and the blocks they make

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A Pix received may now be blocked twice: as a precaution and by a MED report.
    with op.batch_alter_table("balance_blocks", schema=None) as batch_op:
        batch_op.drop_constraint("uq_balance_blocks_end_to_end_id", type_="unique")
        batch_op.create_index("ix_balance_blocks_payment", ["end_to_end_id"])
    op.create_table(
        "med_infractions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("end_to_end_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("blocked", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("details", sa.String(length=500), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("rejection_reason", sa.String(length=500), nullable=True),
        sa.Column("refund_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint(
            "amount > 0 AND blocked >= 0 AND blocked <= amount",
            name=op.f("ck_med_infractions_amounts"),
        ),
        sa.CheckConstraint(
            "status IN ('OPEN', 'ACCEPTED', 'REJECTED')", name=op.f("ck_med_infractions_status")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_med_infractions_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["end_to_end_id"],
            ["cash_ins.end_to_end_id"],
            name=op.f("fk_med_infractions_end_to_end_id_cash_ins"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_med_infractions")),
        sa.UniqueConstraint("end_to_end_id", name=op.f("uq_med_infractions_end_to_end_id")),
    )
    op.create_index("ix_med_infractions_client", "med_infractions", ["client_id", "reported_at"])


def downgrade() -> None:
    op.drop_index("ix_med_infractions_client", table_name="med_infractions")
    op.drop_table("med_infractions")
    with op.batch_alter_table("balance_blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_balance_blocks_payment")
        batch_op.create_unique_constraint("uq_balance_blocks_end_to_end_id", ["end_to_end_id"])
