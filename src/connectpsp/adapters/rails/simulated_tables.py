"""The simulated Pix network's own tables (sandbox only). The network is "outside"
ConnectPSP: our code reaches it only through the rail port, and it writes these in
transactions of its own. They share the storage schema's metadata, so one set of
migrations creates them."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Integer, String, Table

from connectpsp.adapters.storage.schema import TZ, metadata

__all__ = ["sandbox_dict_keys", "sandbox_fraud_markers", "sandbox_spi_payments"]

sandbox_dict_keys = Table(
    "sandbox_dict_keys",
    metadata,
    Column("key", String(77), primary_key=True),
    Column("key_type", String(8), nullable=False),
    Column("owner_name", String(120), nullable=False),
    Column("owner_document", String(14), nullable=False),
    Column("ispb", String(8), nullable=False),
    Column("branch", String(4), nullable=False),
    Column("account", String(20), nullable=False),
    Column("account_type", String(8), nullable=False),
    Column("reject_with", String(4), nullable=True),
    Column("created_at", TZ, nullable=False),
    Index("ix_sandbox_dict_account", "ispb", "branch", "account"),
)

sandbox_spi_payments = Table(
    "sandbox_spi_payments",
    metadata,
    Column("idempotency_key", String(36), primary_key=True),
    Column("end_to_end_id", String(32), nullable=False, unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("payer_ispb", String(8), nullable=False),
    Column("creditor_ispb", String(8), nullable=False),
    Column("creditor_branch", String(4), nullable=False),
    Column("creditor_account", String(20), nullable=False),
    Column("creditor_document", String(14), nullable=False),
    Column("outcome", String(8), nullable=False),  # SETTLED or REJECTED, due at settle_at
    Column("reason_code", String(4), nullable=True),
    Column("submit_count", Integer, nullable=False),  # how often we were asked to pay it
    Column("submitted_at", TZ, nullable=False),
    Column("settle_at", TZ, nullable=False),
)

# The simulated DICT's fraud markers, each on a key or on a document; a removed one keeps
# its row (removed_at) and no longer counts.
sandbox_fraud_markers = Table(
    "sandbox_fraud_markers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("key", String(77), nullable=True),
    Column("document", String(14), nullable=True),
    Column("type", String(20), nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("removed_at", TZ, nullable=True),
    CheckConstraint("(key IS NULL) <> (document IS NULL)", name="one_subject"),
    Index("ix_sandbox_fraud_markers_key", "key"),
    Index("ix_sandbox_fraud_markers_document", "document"),
)
