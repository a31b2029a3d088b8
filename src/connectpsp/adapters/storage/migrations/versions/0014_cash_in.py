"""cash-in: the clients' merchant data and cash-in fees, their Pix keys, charges, and
every Pix received

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "merchant_city", sa.String(length=15), nullable=False, server_default="SAO PAULO"
            )
        )
        batch_op.add_column(sa.Column("document", sa.String(length=14), nullable=True))
        batch_op.add_column(
            sa.Column("cash_in_fee_fixed", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("cash_in_fee_bps", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_check_constraint(
            "ck_clients_cash_in_fees",
            "cash_in_fee_fixed >= 0 AND cash_in_fee_bps >= 0 AND cash_in_fee_bps <= 10000",
        )
    op.create_table(
        "pix_keys",
        sa.Column("key", sa.String(length=77), nullable=False),
        sa.Column("key_type", sa.String(length=5), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_pix_keys_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_pix_keys")),
    )
    op.create_index("ix_pix_keys_client", "pix_keys", ["client_id", "created_at"])
    op.create_table(
        "charges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("internal_code", sa.String(length=10), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("txid", sa.String(length=35), nullable=False),
        sa.Column("external_reference", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.String(length=140), nullable=True),
        sa.Column("pix_key", sa.String(length=77), nullable=False),
        sa.Column("location_id", sa.String(length=36), nullable=True),
        sa.Column("br_code", sa.Text(), nullable=False),
        sa.Column("expires_at", TZ, nullable=True),
        sa.Column("webhook_url", sa.String(length=2048), nullable=True),
        sa.Column("payer_name", sa.String(length=120), nullable=True),
        sa.Column("payer_document", sa.String(length=14), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint("amount IS NULL OR amount > 0", name=op.f("ck_charges_amount")),
        sa.CheckConstraint("type IN ('DYNAMIC', 'STATIC')", name=op.f("ck_charges_type")),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'COMPLETED', 'EXPIRED', 'CANCELLED')",
            name=op.f("ck_charges_status"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_charges_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charges")),
        sa.UniqueConstraint("external_reference", "client_id", name="uq_charges_client_ref"),
        sa.UniqueConstraint("internal_code", name=op.f("uq_charges_internal_code")),
        sa.UniqueConstraint("location_id", name=op.f("uq_charges_location_id")),
        sa.UniqueConstraint("txid", name=op.f("uq_charges_txid")),
    )
    op.create_index("ix_charges_client_created", "charges", ["client_id", "created_at"])
    op.create_table(
        "cash_ins",
        sa.Column("end_to_end_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("charge_id", sa.String(length=36), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("pix_key", sa.String(length=77), nullable=True),
        sa.Column("txid", sa.String(length=35), nullable=True),
        sa.Column("payer_name", sa.String(length=120), nullable=False),
        sa.Column("payer_document", sa.String(length=14), nullable=False),
        sa.Column("payer_ispb", sa.String(length=8), nullable=False),
        sa.Column("paid_at", TZ, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.CheckConstraint(
            "amount > 0 AND fee >= 0 AND fee <= amount", name=op.f("ck_cash_ins_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_cash_ins_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["charges.id"], name=op.f("fk_cash_ins_charge_id_charges")
        ),
        sa.PrimaryKeyConstraint("end_to_end_id", name=op.f("pk_cash_ins")),
    )
    op.create_index("ix_cash_ins_charge", "cash_ins", ["charge_id", "paid_at"])
    op.create_index("ix_cash_ins_client", "cash_ins", ["client_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_cash_ins_client", table_name="cash_ins")
    op.drop_index("ix_cash_ins_charge", table_name="cash_ins")
    op.drop_table("cash_ins")
    op.drop_index("ix_charges_client_created", table_name="charges")
    op.drop_table("charges")
    op.drop_index("ix_pix_keys_client", table_name="pix_keys")
    op.drop_table("pix_keys")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_constraint("ck_clients_cash_in_fees", type_="check")
        batch_op.drop_column("cash_in_fee_bps")
        batch_op.drop_column("cash_in_fee_fixed")
        batch_op.drop_column("document")
        batch_op.drop_column("merchant_city")
