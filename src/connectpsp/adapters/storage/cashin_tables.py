"""Cash-in's tables: the clients' own Pix keys, charges, and every Pix received. They
share the storage schema's metadata (``schema`` imports them), as the simulated
network's do."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from connectpsp.adapters.storage.schema import TZ, metadata

__all__ = [
    "balance_blocks",
    "cash_in_refunds",
    "cash_ins",
    "cash_out_returns",
    "charges",
    "med_infractions",
    "pix_keys",
]

# A client's own Pix keys: a Pix sent to one is a cash-in for it.
pix_keys = Table(
    "pix_keys",
    metadata,
    Column("key", String(77), primary_key=True),
    Column("key_type", String(5), nullable=False),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("created_at", TZ, nullable=False),
    # SHA-256 of the X-Idempotency-Key that registered it: that request, retried, is
    # answered with it; another request for the same key is a conflict.
    Column("request_key", String(64), nullable=True),
    Index("ix_pix_keys_client", "client_id", "created_at"),
)

charges = Table(
    "charges",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("internal_code", String(10), nullable=False, unique=True),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("txid", String(35), nullable=False, unique=True),
    Column("external_reference", String(64), nullable=False),
    Column("type", String(7), nullable=False),
    Column("status", String(9), nullable=False),
    Column("amount", BigInteger, nullable=True),
    Column("description", String(140), nullable=True),
    Column("pix_key", String(77), nullable=False),
    Column("location_id", String(36), nullable=True, unique=True),
    Column("br_code", Text, nullable=False),
    Column("expires_at", TZ, nullable=True),
    Column("webhook_url", String(2048), nullable=True),
    Column("payer_name", String(120), nullable=True),
    Column("payer_document", String(14), nullable=True),
    Column("created_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
    # The client's n-th charge, numbered under its clients row's lock (``charges_made``):
    # the charges list's order, which is commit order.
    Column("seq", BigInteger, nullable=False),
    UniqueConstraint("external_reference", "client_id", name="uq_charges_client_ref"),
    CheckConstraint("amount IS NULL OR amount > 0", name="amount"),
    CheckConstraint("type IN ('DYNAMIC', 'STATIC')", name="type"),
    CheckConstraint("status IN ('ACTIVE', 'COMPLETED', 'EXPIRED', 'CANCELLED')", name="status"),
    Index("ix_charges_client_created", "client_id", "created_at"),
    Index("ux_charges_client_seq", "client_id", "seq", unique=True),
)

# Every Pix received: its endToEndId is its key, so the same Pix is credited once.
cash_ins = Table(
    "cash_ins",
    metadata,
    Column("end_to_end_id", String(32), primary_key=True),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("charge_id", String(36), ForeignKey("charges.id"), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("pix_key", String(77), nullable=True),
    Column("txid", String(35), nullable=True),
    Column("payer_name", String(120), nullable=False),
    Column("payer_document", String(14), nullable=False),
    Column("payer_ispb", String(8), nullable=False),
    Column("paid_at", TZ, nullable=False),
    Column("received_at", TZ, nullable=False),
    CheckConstraint("amount > 0 AND fee >= 0 AND fee <= amount", name="amounts"),
    Index("ix_cash_ins_charge", "charge_id", "paid_at"),
    Index("ix_cash_ins_client", "client_id", "received_at"),
    # The console's search across clients (migration 0025).
    Index("ix_cash_ins_received", "received_at", "end_to_end_id"),
    Index("ix_cash_ins_payer_received", "payer_document", "received_at", "end_to_end_id"),
    Index("ix_cash_ins_txid", "txid"),
)

# Funds held out of a client's available balance (domain.blocks): a precautionary block
# per Pix received (its id derives from the endToEndId), and a MED report's.
balance_blocks = Table(
    "balance_blocks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("end_to_end_id", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(20), nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("expires_at", TZ, nullable=False),
    Column("released_at", TZ, nullable=True),
    Column("released_by", String(120), nullable=True),
    CheckConstraint("amount > 0", name="amount"),
    Index("ix_balance_blocks_client", "client_id", "created_at"),
    Index("ix_balance_blocks_payment", "end_to_end_id"),
    Index("ix_balance_blocks_released", "released_at", "end_to_end_id"),  # the active ones
)

# Money of our cash-outs that payees' banks sent back (domain.returns).
cash_out_returns = Table(
    "cash_out_returns",
    metadata,
    Column("return_id", String(32), primary_key=True),
    Column("cash_out_id", String(36), ForeignKey("cash_outs.id"), nullable=False),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(4), nullable=False),
    Column("returned_at", TZ, nullable=False),
    CheckConstraint("amount > 0", name="amount"),
    Index("ix_cash_out_returns_cash_out", "cash_out_id", "returned_at"),
)

# Pix received that clients sent back (domain.refunds); the payer is the cash-in's.
cash_in_refunds = Table(
    "cash_in_refunds",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("return_id", String(32), nullable=False, unique=True),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("charge_id", String(36), ForeignKey("charges.id"), nullable=True),
    Column("internal_code", String(10), nullable=True),
    Column("end_to_end_id", String(32), ForeignKey("cash_ins.end_to_end_id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(10), nullable=False),
    Column("description", String(140), nullable=True),
    Column("status", String(10), nullable=False),
    Column("webhook_url", String(2048), nullable=True),
    Column("requested_at", TZ, nullable=False),
    Column("completed_at", TZ, nullable=True),
    Column("failure_reason", String(8), nullable=True),
    CheckConstraint("amount > 0", name="amount"),
    CheckConstraint("status IN ('PROCESSING', 'COMPLETED', 'FAILED')", name="status"),
    Index("ix_cash_in_refunds_payment", "end_to_end_id", "requested_at"),
    Index("ix_cash_in_refunds_client", "client_id", "requested_at"),
    Index("ix_cash_in_refunds_requested", "requested_at", "id"),  # the console's list
    Index("ix_cash_in_refunds_status", "status", "requested_at", "id"),
)

# Fraud reports against Pix received (domain.infractions, MED): one per Pix.
med_infractions = Table(
    "med_infractions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column(
        "end_to_end_id",
        String(32),
        ForeignKey("cash_ins.end_to_end_id"),
        nullable=False,
        unique=True,
    ),
    Column("amount", BigInteger, nullable=False),
    Column("blocked", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    Column("details", String(500), nullable=True),
    Column("reported_at", TZ, nullable=False),
    Column("deadline", TZ, nullable=False),
    Column("decided_at", TZ, nullable=True),
    Column("decided_by", String(120), nullable=True),
    Column("rejection_reason", String(500), nullable=True),
    Column("refund_id", String(36), nullable=True),
    CheckConstraint("amount > 0 AND blocked >= 0 AND blocked <= amount", name="amounts"),
    CheckConstraint("status IN ('OPEN', 'ACCEPTED', 'REJECTED')", name="status"),
    Index("ix_med_infractions_client", "client_id", "reported_at"),
)
