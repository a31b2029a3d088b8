"""statement lines on transfers (per-account number and available balance after), and
the charges' per-client number, both in commit order; earlier rows numbered by time

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# What a transfer does to a checked account's available balance, on each side.
_LINES = """
INSERT INTO statement_backfill (transfer_id, side, account_id, at, seq, after)
SELECT transfer_id, side, account_id, at,
  ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY at, transfer_id),
  SUM(delta) OVER (PARTITION BY account_id ORDER BY at, transfer_id ROWS UNBOUNDED PRECEDING)
FROM (
  SELECT tr.id AS transfer_id, 'd' AS side, tr.debit_account_id AS account_id,
    tr.created_at AS at,
    CASE tr.kind WHEN 'void_pending' THEN tr.amount WHEN 'post_pending' THEN 0
      ELSE -tr.amount END AS delta
  FROM transfers tr JOIN accounts a ON a.id = tr.debit_account_id
  WHERE a.no_overdraft
  UNION ALL
  SELECT tr.id, 'c', tr.credit_account_id, tr.created_at,
    CASE WHEN tr.kind IN ('single', 'post_pending') THEN tr.amount ELSE 0 END
  FROM transfers tr JOIN accounts a ON a.id = tr.credit_account_id
  WHERE a.no_overdraft
) lines
WHERE delta <> 0
"""

_SIDE = """
UPDATE transfers SET
  $seq = (SELECT b.seq FROM statement_backfill b
    WHERE b.transfer_id = transfers.id AND b.side = '$side'),
  $after = (SELECT b.after FROM statement_backfill b
    WHERE b.transfer_id = transfers.id AND b.side = '$side')
WHERE id IN (SELECT transfer_id FROM statement_backfill WHERE side = '$side')
"""


def upgrade() -> None:
    op.add_column(
        "accounts", sa.Column("movements", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column("accounts", sa.Column("last_movement_at", sa.DateTime(timezone=True)))
    for column in ("debit_seq", "debit_after", "credit_seq", "credit_after"):
        op.add_column("transfers", sa.Column(column, sa.BigInteger(), nullable=True))
    op.add_column(
        "clients",
        sa.Column("charges_made", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column("charges", sa.Column("seq", sa.BigInteger(), nullable=True))
    _number_statements()
    _number_charges()
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_index("ux_charges_client_seq", ["client_id", "seq"], unique=True)
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_transfers_debit")
        batch_op.drop_index("ix_transfers_credit")
        batch_op.create_index("ix_transfers_debit", ["debit_account_id", "created_at", "debit_seq"])
        batch_op.create_index(
            "ix_transfers_credit", ["credit_account_id", "created_at", "credit_seq"]
        )


def _number_statements() -> None:
    op.create_table(
        "statement_backfill",
        sa.Column("transfer_id", sa.String(36), nullable=False),
        sa.Column("side", sa.String(1), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("after", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("transfer_id", "side"),
    )
    op.execute(_LINES)
    for side, seq, after in (
        ("d", "debit_seq", "debit_after"),
        ("c", "credit_seq", "credit_after"),
    ):
        op.execute(_SIDE.replace("$seq", seq).replace("$after", after).replace("$side", side))
    op.execute(
        "UPDATE accounts SET"
        " movements = (SELECT COUNT(*) FROM statement_backfill b WHERE b.account_id = accounts.id),"
        " last_movement_at ="
        " (SELECT MAX(b.at) FROM statement_backfill b WHERE b.account_id = accounts.id)"
        " WHERE id IN (SELECT account_id FROM statement_backfill)"
    )
    op.drop_table("statement_backfill")


def _number_charges() -> None:
    op.create_table(
        "charge_backfill",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO charge_backfill (id, seq) SELECT id,"
        " ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY created_at, id) FROM charges"
    )
    op.execute(
        "UPDATE charges SET seq = (SELECT b.seq FROM charge_backfill b WHERE b.id = charges.id)"
    )
    op.execute(
        "UPDATE clients SET charges_made ="
        " (SELECT COUNT(*) FROM charges c WHERE c.client_id = clients.id)"
    )
    op.drop_table("charge_backfill")


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN on both (SQLite 3.35+): a batch copy of transfers would
    # drop a table other tables' foreign keys name.
    op.drop_index("ix_transfers_credit", table_name="transfers")
    op.drop_index("ix_transfers_debit", table_name="transfers")
    op.create_index("ix_transfers_debit", "transfers", ["debit_account_id", "created_at"])
    op.create_index("ix_transfers_credit", "transfers", ["credit_account_id", "created_at"])
    op.drop_index("ux_charges_client_seq", table_name="charges")
    for table, column in (
        ("transfers", "credit_after"),
        ("transfers", "credit_seq"),
        ("transfers", "debit_after"),
        ("transfers", "debit_seq"),
        ("charges", "seq"),
        ("clients", "charges_made"),
        ("accounts", "last_movement_at"),
        ("accounts", "movements"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
