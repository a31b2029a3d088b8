"""webhook messages are keyed by subject (a kind and an id), not by cash-out id: any
kind of record can have events

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_kind", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("subject_id", sa.String(length=36), nullable=True))
    op.execute("UPDATE webhook_messages SET subject_kind = 'cash_out', subject_id = cash_out_id")
    with op.batch_alter_table("webhook_messages", schema=None) as batch_op:
        batch_op.alter_column("subject_kind", existing_type=sa.String(length=24), nullable=False)
        batch_op.alter_column("subject_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.drop_index("ix_webhook_messages_cash_out")
        batch_op.drop_column("cash_out_id")
        batch_op.create_index("ix_webhook_messages_subject", ["subject_kind", "subject_id"])


def downgrade() -> None:
    with op.batch_alter_table("webhook_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cash_out_id", sa.String(length=36), nullable=True))
    op.execute("UPDATE webhook_messages SET cash_out_id = subject_id")
    with op.batch_alter_table("webhook_messages", schema=None) as batch_op:
        batch_op.alter_column("cash_out_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.drop_index("ix_webhook_messages_subject")
        batch_op.drop_column("subject_id")
        batch_op.drop_column("subject_kind")
        batch_op.create_index("ix_webhook_messages_cash_out", ["cash_out_id"])
