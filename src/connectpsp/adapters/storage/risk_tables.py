"""The fraud checks' tables: every decision with the client's running tally, each
client's latest tally, and the payees each client has paid. They share the storage
schema's metadata (``schema`` imports them)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, String, Table, Text

from connectpsp.adapters.storage.schema import TZ, metadata

__all__ = ["client_payees", "risk_decisions", "risk_totals"]

risk_decisions = Table(
    "risk_decisions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("client_id", String(36), nullable=False),
    Column("cash_out_id", String(36), nullable=True),  # the accepted cash-out
    Column("at", TZ, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("payee", String(14), nullable=False),  # the payee's document
    Column("code", String(40), nullable=True),  # the refusal's; NULL when accepted
    Column("checks", Text, nullable=False),  # JSON: [{"rule", "passed", "inputs"}]
    # The client's running tally, this decision included (domain.risk.Tally): a window's
    # count and amount are the difference of two, each one index look-up away.
    Column("decided_total", BigInteger, nullable=False),
    Column("accepted_total", BigInteger, nullable=False),
    Index("ix_risk_decisions_tally", "client_id", "at", "decided_total", "accepted_total"),
    Index("ix_risk_decisions_at", "at"),
)

# Each client's running tally as of its last decision, locked with its balance.
risk_totals = Table(
    "risk_totals",
    metadata,
    Column("client_id", String(36), primary_key=True),
    Column("decided", BigInteger, nullable=False),
    Column("accepted", BigInteger, nullable=False),
)

# The payees each client has had a cash-out accepted for (its "new payee" rule).
client_payees = Table(
    "client_payees",
    metadata,
    Column("client_id", String(36), nullable=False),
    Column("payee", String(14), nullable=False),
    Column("first_paid_at", TZ, nullable=False),
    # Payee first: a batch looks its payees up with ``payee IN (...)``, whoever the client.
    PrimaryKeyConstraint("payee", "client_id", name="pk_client_payees"),
)
