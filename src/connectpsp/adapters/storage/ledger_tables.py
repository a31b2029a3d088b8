"""The ledger's tables (accounts with running totals, immutable transfers), on the storage
schema's metadata, so one set of migrations creates them.

Every transfer that changes a checked (client) account's available balance is one line
of that account's statement: it takes the account's next ``movements`` number (its
``debit_seq`` or ``credit_seq``) and the available balance after it (``debit_after`` or
``credit_after``), written with the running totals under the account row's lock, so
statement order is commit order, gap-free, and needs no scan (docs/statement.md).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from connectpsp.adapters.storage.schema import TZ, metadata

__all__ = ["accounts", "transfers"]

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(80), nullable=False, unique=True),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=True),
    # Running totals are kept for overdraft-checked (client) accounts only; the PSP's
    # own accounts would be hot rows shared by every client, so theirs are summed from
    # transfers instead.
    Column("no_overdraft", Boolean, nullable=False),
    Column("debits_pending", BigInteger, nullable=False, default=0),
    Column("debits_posted", BigInteger, nullable=False, default=0),
    Column("credits_posted", BigInteger, nullable=False, default=0),
    # Money on its way in (a pending credit): not available until posted.
    Column("credits_pending", BigInteger, nullable=False, default=0),
    Column("created_at", TZ, nullable=False),
    # The statement (checked accounts): lines so far, and the latest line's time (a
    # line is never dated before the one it follows).
    Column("movements", BigInteger, nullable=False, server_default="0"),
    Column("last_movement_at", TZ, nullable=True),
    CheckConstraint(
        "debits_pending >= 0 AND debits_posted >= 0 AND credits_posted >= 0", name="nonneg"
    ),
    CheckConstraint("credits_pending >= 0", name="credits_pending_nonneg"),
    CheckConstraint(
        "NOT no_overdraft OR debits_posted + debits_pending <= credits_posted",
        name="no_overdraft",
    ),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("debit_account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("credit_account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    # A post or void names its pending transfer; UNIQUE makes each resolvable once.
    Column("pending_id", String(36), ForeignKey("transfers.id"), nullable=True, unique=True),
    Column("code", String(32), nullable=False),  # why: cash_out, cash_out_fee, sandbox_fund
    Column("ref", String(36), nullable=True),  # the business record it belongs to
    Column("created_at", TZ, nullable=False),
    # Its statement line on each side whose available balance it changes (else NULL).
    Column("debit_seq", BigInteger, nullable=True),
    Column("debit_after", BigInteger, nullable=True),
    Column("credit_seq", BigInteger, nullable=True),
    Column("credit_after", BigInteger, nullable=True),
    CheckConstraint("amount > 0", name="positive"),
    CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
    CheckConstraint("kind IN ('single', 'pending', 'post_pending', 'void_pending')", name="kind"),
    CheckConstraint("(pending_id IS NULL) = (kind IN ('single', 'pending'))", name="pending_link"),
    # An account's transfers, and its statement: a line's time never goes back, so
    # (time, number) orders the lines as the number does, and a period is a range.
    Index("ix_transfers_debit", "debit_account_id", "created_at", "debit_seq"),
    Index("ix_transfers_credit", "credit_account_id", "created_at", "credit_seq"),
    Index("ix_transfers_ref", "ref"),
)
