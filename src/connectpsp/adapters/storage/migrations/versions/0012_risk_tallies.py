"""risk tallies: each decision keeps the client's running tally (count decided, amount
accepted), and risk_totals each client's last, so that a rule's window is two index
look-ups however long the client's history

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("decided_total", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("accepted_total", sa.BigInteger(), nullable=False, server_default="0")
        )
    # The decisions so far, in the order of their times (their ids break ties).
    op.execute(
        "UPDATE risk_decisions SET decided_total = w.decided, accepted_total = w.accepted"
        " FROM (SELECT id,"
        " ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY at, id) AS decided,"
        " SUM(CASE WHEN code IS NULL THEN amount ELSE 0 END) OVER (PARTITION BY client_id ORDER BY at, id) AS accepted"
        " FROM risk_decisions) AS w WHERE risk_decisions.id = w.id"
    )
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.alter_column("decided_total", server_default=None)
        batch_op.alter_column("accepted_total", server_default=None)
    op.drop_index("ix_risk_decisions_client_at", table_name="risk_decisions")
    op.create_index(
        "ix_risk_decisions_tally",
        "risk_decisions",
        ["client_id", "at", "decided_total", "accepted_total"],
    )
    op.create_table(
        "risk_totals",
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("decided", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_risk_totals")),
    )
    op.execute(
        "INSERT INTO risk_totals (client_id, decided, accepted)"
        " SELECT client_id, COUNT(*), SUM(CASE WHEN code IS NULL THEN amount ELSE 0 END)"
        " FROM risk_decisions GROUP BY client_id"
    )


def downgrade() -> None:
    op.drop_table("risk_totals")
    op.drop_index("ix_risk_decisions_tally", table_name="risk_decisions")
    op.create_index("ix_risk_decisions_client_at", "risk_decisions", ["client_id", "at"])
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.drop_column("accepted_total")
        batch_op.drop_column("decided_total")
