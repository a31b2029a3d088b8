"""SQLite: times written on a whole second by the batch inserts get their ".000000", as
every other statement writes and binds them (they sorted before the same moment)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Every time column at this revision (PostgreSQL keeps times as timestamps: untouched).
_TIMES = {
    "accounts": ("created_at",),
    "auth_failures": ("at",),
    "auth_known_sources": ("succeeded_at",),
    "cash_outs": ("requested_at", "paid_at", "updated_at", "submitted_at"),
    "client_payees": ("first_paid_at",),
    "clients": ("created_at",),
    "idempotency_keys": ("created_at",),
    "outbox": ("available_at", "locked_until", "done_at", "created_at"),
    "risk_decisions": ("at",),
    "sandbox_dict_keys": ("created_at",),
    "sandbox_fraud_markers": ("created_at", "removed_at"),
    "sandbox_spi_payments": ("submitted_at", "settle_at"),
    "signing_keys": ("created_at",),
    "transfers": ("created_at",),
    "webhook_attempts": ("attempted_at",),
    "webhook_deliveries": ("next_attempt_at", "locked_until", "created_at", "updated_at"),
    "webhook_endpoints": ("previous_secret_expires_at", "created_at", "deleted_at"),
    "webhook_messages": ("created_at",),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in _TIMES.items():
        for column in columns:
            # "YYYY-MM-DD HH:MM:SS" is 19 characters; with its microseconds, 26.
            op.execute(
                f"UPDATE {table} SET {column} = {column} || '.000000'"  # noqa: S608 (names above)
                f" WHERE length({column}) = 19"
            )


def downgrade() -> None:
    pass  # the longer form is what every statement reads and writes
