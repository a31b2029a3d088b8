"""sandbox fraud markers: the simulated DICT's markers on keys and documents, for its
security statistics

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_fraud_markers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=77), nullable=True),
        sa.Column("document", sa.String(length=14), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(key IS NULL) <> (document IS NULL)",
            name=op.f("ck_sandbox_fraud_markers_one_subject"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_fraud_markers")),
    )
    with op.batch_alter_table("sandbox_fraud_markers", schema=None) as batch_op:
        batch_op.create_index("ix_sandbox_fraud_markers_key", ["key"], unique=False)
        batch_op.create_index("ix_sandbox_fraud_markers_document", ["document"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sandbox_fraud_markers", schema=None) as batch_op:
        batch_op.drop_index("ix_sandbox_fraud_markers_document")
        batch_op.drop_index("ix_sandbox_fraud_markers_key")
    op.drop_table("sandbox_fraud_markers")
