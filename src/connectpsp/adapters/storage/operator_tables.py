"""The console's tables: operators, their sessions, and the audit log. They share the
storage schema's metadata (``schema`` imports this module), as cash-in's do."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from connectpsp.adapters.storage.schema import TZ, metadata

__all__ = ["audit_log", "operator_sessions", "operators"]

operators = Table(
    "operators",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(120), nullable=False, unique=True),  # lowercased
    Column("password_hash", String(200), nullable=False),  # argon2id
    Column("active", Boolean, nullable=False),
    Column("created_at", TZ, nullable=False),
)

# Open sessions, by the SHA-256 of the cookie's token (never the token itself).
operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("operator_id", String(36), ForeignKey("operators.id"), nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("last_seen_at", TZ, nullable=False),
    Column("expires_at", TZ, nullable=False),
    Index("ix_operator_sessions_operator", "operator_id"),
)

# Every operator action: written before it runs (started), then with its outcome.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TZ, nullable=False),
    # None for what the CLI did; the email (or "cli") is kept as it was then.
    Column("operator_id", String(36), ForeignKey("operators.id"), nullable=True),
    Column("operator_email", String(120), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject_kind", String(32), nullable=True),
    Column("subject_id", String(64), nullable=True),
    Column("before", Text, nullable=True),  # JSON
    Column("after", Text, nullable=True),  # JSON
    Column("outcome", String(8), nullable=False),
    Column("detail", String(300), nullable=True),
    Column("source", String(64), nullable=True),
    CheckConstraint("outcome IN ('started', 'done', 'refused')", name="outcome"),
    Index("ix_audit_log_subject", "subject_kind", "subject_id"),
)
