"""The fraud checks' tables: every decision with the client's running tally, each
client's latest tally, and the payees each client has paid. They share the storage
schema's metadata (``schema`` imports them)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, String, Table, Text

from connectpsp.adapters.storage.schema import TZ, metadata

__all__ = ["client_payees", "risk_decisions", "risk_totals"]

# A client's decisions at one moment, as one row: a batch decides all of its requests at
# one moment, and a row per request cost the checks about a point and a half of their
# rate (BENCHMARKS.md, "What the fraud checks cost, and where").
risk_decisions = Table(
    "risk_decisions",
    metadata,
    Column("id", String(36), primary_key=True),  # the last decision's
    Column("client_id", String(36), nullable=False),
    Column("at", TZ, nullable=False),
    # JSON, in the order decided: [{"id", "cashOutId", "amount", "payee", "code", "checks"}]
    # (cashOutId null when refused, code null when accepted; payee the payee's document;
    # checks [{"rule", "passed", "inputs"}]).
    Column("decisions", Text, nullable=False),
    # The client's running tally after the row's last decision (domain.risk.Tally): a
    # window's count and amount are the difference of two, each one index look-up away.
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
