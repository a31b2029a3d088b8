"""auth throttle: failed token requests and the sources that got tokens, shared by
every API process

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope_key", sa.String(length=140), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_failures")),
    )
    with op.batch_alter_table("auth_failures", schema=None) as batch_op:
        batch_op.create_index("ix_auth_failures_key_at", ["scope_key", "at"], unique=False)
        batch_op.create_index("ix_auth_failures_at", ["at"], unique=False)

    op.create_table(
        "auth_known_sources",
        sa.Column("pair_key", sa.String(length=140), nullable=False),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pair_key", name=op.f("pk_auth_known_sources")),
    )
    with op.batch_alter_table("auth_known_sources", schema=None) as batch_op:
        batch_op.create_index("ix_auth_known_sources_succeeded", ["succeeded_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("auth_known_sources", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_known_sources_succeeded")
    op.drop_table("auth_known_sources")
    with op.batch_alter_table("auth_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_failures_at")
        batch_op.drop_index("ix_auth_failures_key_at")
    op.drop_table("auth_failures")
