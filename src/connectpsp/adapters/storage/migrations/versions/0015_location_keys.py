"""location keys: the RSA keys that sign dynamic codes' locations, encrypted at rest

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "location_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("private_key_enc", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_location_keys")),
    )


def downgrade() -> None:
    op.drop_table("location_keys")
