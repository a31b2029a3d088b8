"""pending credits: money on its way into an account (a pending transfer credited to a
client) is kept apart, not available until posted

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("credits_pending", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.create_check_constraint(
            op.f("ck_accounts_credits_pending_nonneg"), "credits_pending >= 0"
        )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.alter_column("credits_pending", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint("ck_accounts_credits_pending_nonneg", type_="check")
        batch_op.drop_column("credits_pending")
