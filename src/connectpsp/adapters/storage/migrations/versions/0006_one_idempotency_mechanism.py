"""one idempotency mechanism for every POST: the acceptance engine stores each outcome as
data (rendered by the API), and webhook endpoints lose their own key columns

The stored answers of earlier versions become outcome records: a 2xx body becomes the
accepted cash-out it describes, an error body its refusal. Their fingerprints were
computed the old way, so a retry that spans this upgrade is told
IDEMPOTENCY_KEY_MISMATCH rather than replayed; it never moves money twice (the cash-out's
externalReference is taken). Webhook endpoints' create and rotation keys are dropped.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _record(status: int, body: bytes) -> bytes:
    answer = json.loads(bytes(body))
    if status == 202:
        record = {
            "accepted": {
                "id": answer["transactionId"],
                "internalCode": answer["internalCode"],
                "externalReference": answer["externalReference"],
                "requestedAt": datetime.fromisoformat(answer["requestedAt"]).isoformat(),
            }
        }
    else:
        error = answer["error"]
        record = {"refused": {k: error[k] for k in ("code", "message", "details")}}
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT client_id, key, response_status, response_body FROM idempotency_keys")
    ).all()
    for client_id, key, status, body in rows:
        conn.execute(
            sa.text(
                "UPDATE idempotency_keys SET outcome = :outcome"
                " WHERE client_id = :client_id AND key = :key"
            ),
            {"outcome": _record(status, body), "client_id": client_id, "key": key},
        )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.alter_column("outcome", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("response_status")
        batch_op.drop_column("response_body")
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_index("ux_webhook_endpoints_create_key")
        batch_op.drop_column("rotation_key")
        batch_op.drop_column("create_fingerprint")
        batch_op.drop_column("create_key")


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("create_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("create_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("rotation_key", sa.String(length=255), nullable=True))
        batch_op.create_index(
            "ux_webhook_endpoints_create_key", ["client_id", "create_key"], unique=True
        )
    # Stored outcomes cannot become the old answers' bytes: the keys are forgotten.
    op.execute("DELETE FROM idempotency_keys")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response_status", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("response_body", sa.LargeBinary(), nullable=False))
        batch_op.drop_column("outcome")
