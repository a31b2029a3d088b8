"""a cash-out may pay a BR Code: the code as sent, and the txid it passes on; the
sandbox's demo CNPJ key moves to another bank than ours (ours are on-us now)

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cash_outs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("br_code", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("txid", sa.String(length=35), nullable=True))
    op.execute(
        "UPDATE sandbox_dict_keys SET ispb = '60701190'"
        " WHERE key = '12ABC34501DE35' AND ispb = '00416968'"
    )


def downgrade() -> None:
    with op.batch_alter_table("cash_outs", schema=None) as batch_op:
        batch_op.drop_column("txid")
        batch_op.drop_column("br_code")
