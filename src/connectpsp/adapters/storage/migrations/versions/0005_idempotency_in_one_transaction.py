"""idempotency keys are stored with their answer, in the transaction that decides it;
keys and references are indexed for lookups by many at once

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Claims left by requests that died mid-flight answered nobody: drop them.
    op.execute("DELETE FROM idempotency_keys WHERE response_status IS NULL")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.alter_column("response_status", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("response_body", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_constraint("pk_idempotency_keys", type_="primary")
        batch_op.create_primary_key("pk_idempotency_keys", ["key", "client_id"])
    with op.batch_alter_table("cash_outs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_cash_outs_client_ref", type_="unique")
        batch_op.create_unique_constraint(
            "uq_cash_outs_client_ref", ["external_reference", "client_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("cash_outs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_cash_outs_client_ref", type_="unique")
        batch_op.create_unique_constraint(
            "uq_cash_outs_client_ref", ["client_id", "external_reference"]
        )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_constraint("pk_idempotency_keys", type_="primary")
        batch_op.create_primary_key("pk_idempotency_keys", ["client_id", "key"])
        batch_op.alter_column("response_body", existing_type=sa.LargeBinary(), nullable=True)
        batch_op.alter_column("response_status", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
