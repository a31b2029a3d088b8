"""The database schema. Money columns hold integer centavos; times are timezone-aware.

Alembic migrations create this schema; a test checks that they agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which has no zones) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return (
            value.astimezone(UTC)
            if dialect.name != "sqlite"
            else value.astimezone(UTC).replace(tzinfo=None)
        )

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TZ = UTCDateTime()

clients = Table(
    "clients",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("secret_hash", String(200), nullable=False),  # argon2id
    Column("crypto_token_enc", Text, nullable=False),  # AES-GCM under the master key
    Column("app_token_hash", String(64), nullable=False),  # sha256 hex of a 256-bit token
    Column("webhook_secret_enc", Text, nullable=False),
    Column("fee_fixed", BigInteger, nullable=False),
    Column("fee_bps", Integer, nullable=False),
    Column("per_transaction_limit", BigInteger, nullable=False),
    Column("daily_limit", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", TZ, nullable=False),
    # The client's own fraud limits (domain.risk); NULL turns a rule off.
    Column("max_cash_outs_per_minute", Integer, nullable=True),
    Column("max_amount_per_hour", BigInteger, nullable=True),
    Column("new_payee_limit", BigInteger, nullable=True),
    Column("night_limit", BigInteger, nullable=True),
    Column("night_window", String(11), nullable=False, server_default="20:00-06:00"),
    # What its BR Codes show payers, its own CPF/CNPJ (for CPF/CNPJ keys), and the fee
    # on the Pix it receives.
    Column("merchant_city", String(15), nullable=False, server_default="SAO PAULO"),
    Column("document", String(14), nullable=True),
    Column("cash_in_fee_fixed", BigInteger, nullable=False, server_default="0"),
    Column("cash_in_fee_bps", Integer, nullable=False, server_default="0"),
    # The charges made so far: the next one's ``seq``, taken under this row's lock, so
    # the charges list is in commit order (a page never skips one committed late).
    Column("charges_made", BigInteger, nullable=False, server_default="0"),
    # When its clientSecret was last rotated; NULL: the one it was created with.
    Column("secret_rotated_at", TZ, nullable=True),
    CheckConstraint("fee_fixed >= 0 AND fee_bps >= 0 AND fee_bps <= 10000", name="fees"),
    CheckConstraint(
        "cash_in_fee_fixed >= 0 AND cash_in_fee_bps >= 0 AND cash_in_fee_bps <= 10000",
        name="cash_in_fees",
    ),
)

# One row: a number every change to a client's record raises, in the change's own
# transaction. A server polls it each second and forgets the clients it remembers when
# it moved (``service.auth``): a change made by another process shows within a second.
client_changes = Table(
    "client_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(32), primary_key=True),
    Column("secret_enc", Text, nullable=False),
    Column("created_at", TZ, nullable=False),
)

cash_outs = Table(
    "cash_outs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("internal_code", String(10), nullable=False, unique=True),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("external_reference", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("description", String(140), nullable=True),
    Column("webhook_url", String(2048), nullable=True),
    Column("payee_name", String(120), nullable=False),
    Column("payee_document", String(14), nullable=False),
    Column("destination_type", String(16), nullable=False),
    Column("pix_key_type", String(8), nullable=True),
    Column("pix_key", String(77), nullable=True),
    # A BR Code paid: the code as sent, and the txid passed on to the receiver.
    Column("br_code", Text, nullable=True),
    Column("txid", String(35), nullable=True),
    Column("bank_ispb", String(8), nullable=True),
    Column("bank_branch", String(4), nullable=True),
    Column("bank_account", String(20), nullable=True),
    Column("bank_account_type", String(8), nullable=True),
    Column("status", String(12), nullable=False),
    Column("end_to_end_id", String(32), nullable=True, unique=True),
    Column("failure_code", String(40), nullable=True),
    Column("failure_message", String(300), nullable=True),
    Column("spi_reason_code", String(8), nullable=True),
    Column("requested_at", TZ, nullable=False),
    Column("paid_at", TZ, nullable=True),
    Column("updated_at", TZ, nullable=False),
    # Set, with the creditor, just before the rail is first asked to pay.
    Column("submitted_at", TZ, nullable=True),
    Column("creditor_name", String(120), nullable=True),
    Column("creditor_document", String(14), nullable=True),
    Column("creditor_ispb", String(8), nullable=True),
    Column("creditor_branch", String(4), nullable=True),
    Column("creditor_account", String(20), nullable=True),
    Column("creditor_account_type", String(8), nullable=True),
    # Reference first: a batch looks its references up with ``external_reference IN``.
    UniqueConstraint("external_reference", "client_id", name="uq_cash_outs_client_ref"),
    CheckConstraint("amount > 0 AND fee >= 0", name="amounts"),
    CheckConstraint("status IN ('PROCESSING', 'COMPLETED', 'FAILED')", name="status"),
    Index("ix_cash_outs_client_requested", "client_id", "requested_at"),
    # The console's search across clients (adapters/storage/console_reads.py).
    Index("ix_cash_outs_requested", "requested_at", "id"),
    Index("ix_cash_outs_status_requested", "status", "requested_at", "id"),
    Index("ix_cash_outs_payee_requested", "payee_document", "requested_at", "id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("client_id", String(36), nullable=False),
    Column("key", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # sha256 of the canonical request
    # Written in the transaction that decides it, never half-done: the acceptance
    # engine's record as JSON (encrypted when it holds a secret), rendered by the API.
    Column("outcome", LargeBinary, nullable=False),
    Column("created_at", TZ, nullable=False),
    # Key first: a batch looks its keys up with ``key IN (...)``, whoever their clients.
    PrimaryKeyConstraint("key", "client_id", name="pk_idempotency_keys"),
    Index("ix_idempotency_created", "created_at"),
)

daily_usage = Table(
    "daily_usage",
    metadata,
    Column("client_id", String(36), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD in America/Sao_Paulo
    Column("amount", BigInteger, nullable=False),
    CheckConstraint("amount >= 0", name="nonneg"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(32), nullable=False),
    Column("ref", String(36), nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("available_at", TZ, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),  # claims, this one included
    Column("failures", Integer, nullable=False, default=0),  # consecutive failed runs
    Column("locked_until", TZ, nullable=True),
    Column("done_at", TZ, nullable=True),
    Column("created_at", TZ, nullable=False),
    Index("ix_outbox_due", "topic", "done_at", "available_at"),
)


webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("events", Text, nullable=False),  # JSON list of event types
    Column("secret_enc", Text, nullable=False),
    # After a rotation the old secret keeps signing, alongside the new, until this time.
    Column("previous_secret_enc", Text, nullable=True),
    Column("previous_secret_expires_at", TZ, nullable=True),
    Column("status", String(12), nullable=False),  # enabled | disabled
    Column("disabled_reason", String(200), nullable=True),
    Column("created_at", TZ, nullable=False),
    Column("deleted_at", TZ, nullable=True),
    Index("ix_webhook_endpoints_client", "client_id"),
)


# One rendered message per event and shape; its id is the stable ``webhook-id``.
webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("client_id", String(36), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("shape", String(12), nullable=False),  # cash_out (seed 000) | movement (seed 004)
    # What the event is about: a kind (cash_out) and that record's id.
    Column("subject_kind", String(24), nullable=False),
    Column("subject_id", String(36), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", TZ, nullable=False),
    Index("ix_webhook_messages_window", "client_id", "shape", "created_at"),
    Index("ix_webhook_messages_subject", "subject_kind", "subject_id"),
)

# The webhook outbox: written in the transaction that makes the event happen.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("message_id", String(40), ForeignKey("webhook_messages.id"), nullable=False),
    Column("client_id", String(36), nullable=False),
    Column("endpoint_id", String(36), nullable=True),  # None: the cash-out's webhookUrl
    Column("url", String(2048), nullable=False),
    Column("status", String(12), nullable=False),  # pending | succeeded | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", TZ, nullable=False),
    Column("locked_until", TZ, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("created_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_client", "client_id", "status", "created_at"),
    Index("ix_webhook_deliveries_message", "message_id"),  # a cash-out's timeline
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("attempted_at", TZ, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("response_body", Text, nullable=True),  # the first KiB
    Column("error", String(200), nullable=True),
    Index("ix_webhook_attempts_delivery", "delivery_id"),
)

# Failed POST /auth/token attempts, one row per scope each counts under (the
# (clientId, source) pair and the source): the limiter counts a key's rows in a sliding
# window, whichever process wrote them. Rows are only written for attempts that reached
# argon2, so the table grows no faster than verification can run; the worker prunes it.
auth_failures = Table(
    "auth_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope_key", String(140), nullable=False),
    Column("at", TZ, nullable=False),
    Index("ix_auth_failures_key_at", "scope_key", "at"),
    Index("ix_auth_failures_at", "at"),
)

# The (clientId, source) pairs that got a token, and when last: such a pair keeps
# getting tokens while its source is over its limit (a client behind a sprayer's NAT).
auth_known_sources = Table(
    "auth_known_sources",
    metadata,
    Column("pair_key", String(140), primary_key=True),
    Column("succeeded_at", TZ, nullable=False),
    Index("ix_auth_known_sources_succeeded", "succeeded_at"),
)


# Every decided cash-out request: the checks that ran, their inputs, and the outcome.
# The simulated Pix network's tables live with it (adapters/rails), on this metadata: so
# one schema, and one set of migrations, covers both.
from connectpsp.adapters.rails.simulated_tables import (  # noqa: E402
    sandbox_dict_keys,
    sandbox_fraud_markers,
    sandbox_spi_payments,
)

# The console's operators, sessions and audit log: on this metadata, named from their module.
from connectpsp.adapters.storage import operator_tables  # noqa: E402, F401
from connectpsp.adapters.storage.cashin_tables import (  # noqa: E402
    balance_blocks,
    cash_in_refunds,
    cash_ins,
    cash_out_returns,
    charges,
    med_infractions,
    pix_keys,
)
from connectpsp.adapters.storage.ledger_tables import accounts, transfers  # noqa: E402
from connectpsp.adapters.storage.location_tables import location_keys  # noqa: E402
from connectpsp.adapters.storage.risk_tables import (  # noqa: E402
    client_payees,
    risk_decisions,
    risk_totals,
)

__all__ = [
    "TZ",
    "accounts",
    "auth_failures",
    "auth_known_sources",
    "balance_blocks",
    "cash_in_refunds",
    "cash_ins",
    "cash_out_returns",
    "cash_outs",
    "charges",
    "client_payees",
    "clients",
    "daily_usage",
    "idempotency_keys",
    "location_keys",
    "med_infractions",
    "metadata",
    "outbox",
    "pix_keys",
    "risk_decisions",
    "risk_totals",
    "sandbox_dict_keys",
    "sandbox_fraud_markers",
    "sandbox_spi_payments",
    "signing_keys",
    "transfers",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
    "webhook_messages",
]
