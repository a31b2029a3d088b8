"""risk decisions by moment: a client's decisions at one moment are one row, the
decisions a JSON document; each decision kept so far becomes a row of one

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_OLD = ("cash_out_id", "amount", "payee", "code", "checks")
# Each decision kept so far as a document of one entry, as ``SqlRisk`` writes them.
_AS_DOCUMENT_SQLITE = (
    "UPDATE risk_decisions SET decisions = json_array(json_object('id', id,"
    " 'cashOutId', cash_out_id, 'amount', amount, 'payee', payee, 'code', code,"
    " 'checks', json(checks)))"
)
_AS_DOCUMENT_POSTGRESQL = (
    "UPDATE risk_decisions SET decisions = json_build_array(json_build_object('id', id,"
    " 'cashOutId', cash_out_id, 'amount', amount, 'payee', payee, 'code', code,"
    " 'checks', checks::json))::text"
)


def upgrade() -> None:
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decisions", sa.Text(), nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute(_AS_DOCUMENT_SQLITE if sqlite else _AS_DOCUMENT_POSTGRESQL)
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.alter_column("decisions", existing_type=sa.Text(), nullable=False)
        for column in _OLD:
            batch_op.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cash_out_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("payee", sa.String(length=14), nullable=True))
        batch_op.add_column(sa.Column("code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("checks", sa.Text(), nullable=True))
    # Each row's decisions as rows of their own, each with the tally it brought the
    # client to (the row's, less what the decisions after it added).
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, client_id, at, decisions, decided_total, accepted_total FROM risk_decisions"
        )
    ).all()
    singles: list[dict[str, Any]] = []
    for row in rows:
        decided, accepted = row.decided_total, row.accepted_total
        for entry in reversed(json.loads(row.decisions)):
            singles.append(
                {
                    "id": entry["id"],
                    "client_id": row.client_id,
                    "at": row.at,
                    "cash_out_id": entry["cashOutId"],
                    "amount": entry["amount"],
                    "payee": entry["payee"],
                    "code": entry["code"],
                    "checks": json.dumps(entry["checks"], separators=(",", ":")),
                    "decided_total": decided,
                    "accepted_total": accepted,
                }
            )
            decided -= 1
            accepted -= entry["amount"] if entry["code"] is None else 0
    conn.execute(sa.text("DELETE FROM risk_decisions"))
    if singles:
        conn.execute(
            sa.text(
                "INSERT INTO risk_decisions (id, client_id, at, cash_out_id, amount, payee,"
                " code, checks, decided_total, accepted_total, decisions) VALUES (:id,"
                " :client_id, :at, :cash_out_id, :amount, :payee, :code, :checks,"
                " :decided_total, :accepted_total, '')"
            ),
            singles,
        )
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.alter_column("amount", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("payee", existing_type=sa.String(length=14), nullable=False)
        batch_op.alter_column("checks", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("decisions")
