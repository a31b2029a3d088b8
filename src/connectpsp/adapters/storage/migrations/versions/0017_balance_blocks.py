"""blocks: received funds held out of a client's available balance, and each client's
blocked account in the ledger

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "balance_blocks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("end_to_end_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("released_at", TZ, nullable=True),
        sa.Column("released_by", sa.String(length=120), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_balance_blocks_amount")),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_balance_blocks_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balance_blocks")),
        sa.UniqueConstraint("end_to_end_id", name=op.f("uq_balance_blocks_end_to_end_id")),
    )
    op.create_index("ix_balance_blocks_client", "balance_blocks", ["client_id", "created_at"])
    # Every client gets its blocked account, as new clients do when created (':' ||
    # 'blocked': a colon before a word would read as a bind parameter).
    op.execute(
        "INSERT INTO accounts (code, client_id, no_overdraft, debits_pending, debits_posted,"
        " credits_posted, credits_pending, created_at)"
        " SELECT 'client:' || id || ':' || 'blocked', id, TRUE, 0, 0, 0, 0, created_at"
        " FROM clients"
    )


def downgrade() -> None:
    # ':' || 'blocked': a colon before a word would read as a bind parameter.
    op.execute("DELETE FROM accounts WHERE code LIKE 'client:%' || ':' || 'blocked'")
    op.drop_index("ix_balance_blocks_client", table_name="balance_blocks")
    op.drop_table("balance_blocks")
