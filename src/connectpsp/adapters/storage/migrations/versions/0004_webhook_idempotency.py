"""webhook idempotency: the keys that created and last rotated an endpoint

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("create_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("create_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("rotation_key", sa.String(length=255), nullable=True))
        batch_op.create_index(
            "ux_webhook_endpoints_create_key", ["client_id", "create_key"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_index("ux_webhook_endpoints_create_key")
        batch_op.drop_column("rotation_key")
        batch_op.drop_column("create_fingerprint")
        batch_op.drop_column("create_key")
