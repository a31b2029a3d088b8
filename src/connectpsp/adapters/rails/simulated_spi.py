"""The simulated SPI's payments: taken once per idempotency key, their outcome decided
when first taken (``simulated`` names the rules) and due ``latency`` later.

A batch of orders is one transaction of the network's own, and one statement of each
kind: the rejections its creditors' accounts carry are read together, its new payments
are written in one multi-row insert that skips the keys taken already (one statement
decides "new payment or repeat", so two concurrent submits of one key cannot both pay),
and the repeats' count goes up in one update."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from connectpsp.adapters.storage.db import Database, run_sql
from connectpsp.adapters.storage.times import times
from connectpsp.domain.cashout import Creditor
from connectpsp.domain.clock import Clock
from connectpsp.domain.spi import ReasonCode
from connectpsp.service.rail import PaymentOrder, RailState, RailStatus

__all__ = ["LOST_RESPONSE_ACCOUNT", "MAGIC_ACCOUNTS", "SpiPayments"]

# Bank-account numbers that make SPI reject with a given reason, at any ISPB and branch.
MAGIC_ACCOUNTS: dict[str, ReasonCode] = {
    "9901": ReasonCode.AC03,
    "9902": ReasonCode.AC06,
    "9903": ReasonCode.AC07,
    "9904": ReasonCode.AC14,
    "9905": ReasonCode.AG03,
    "9906": ReasonCode.AM02,
    "9907": ReasonCode.BE01,
    "9908": ReasonCode.CH11,
    "9909": ReasonCode.AB03,
    "9910": ReasonCode.AB09,
    "9911": ReasonCode.DS04,
    "9912": ReasonCode.RR04,
    "9913": ReasonCode.ED05,
}
# SPI takes the payment but its first answer is lost: the engine must ask again.
LOST_RESPONSE_ACCOUNT = "9999"

_COLUMNS = (
    "idempotency_key, end_to_end_id, amount, payer_ispb, creditor_ispb, creditor_branch,"
    " creditor_account, creditor_document, outcome, reason_code, submit_count, submitted_at,"
    " settle_at"
)
_ROW = "(" + ", ".join("?" * 13) + ")"
_INSERT_ARRAYS = (
    "INSERT INTO sandbox_spi_payments (idempotency_key, end_to_end_id, amount, payer_ispb,"
    " creditor_ispb, creditor_branch, creditor_account, creditor_document, outcome,"
    " reason_code, submit_count, submitted_at, settle_at) SELECT * FROM unnest("
    "?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[],"
    " ?::text[], ?::text[], ?::text[], ?::integer[], ?::timestamptz[], ?::timestamptz[])"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key"
)
_CHUNK = 500  # rows per insert: 6,500 parameters, well inside both databases' limits
_REJECTING = (
    "SELECT ispb, branch, account, reject_with FROM sandbox_dict_keys"
    " WHERE reject_with IS NOT NULL AND account IN ({in}) ORDER BY key"
)
_STATUS = (
    "SELECT idempotency_key, end_to_end_id, outcome, reason_code, settle_at"
    " FROM sandbox_spi_payments WHERE idempotency_key IN ({in})"
)


class SpiPayments:
    def __init__(self, db: Database, *, clock: Clock, latency: timedelta) -> None:
        self._db = db
        self._clock = clock
        self._latency = latency

    def submit_many(self, orders: list[PaymentOrder]) -> list[RailStatus]:
        """Take each order once per idempotency key: a new one's status, a repeat's the
        first payment's; ``UNKNOWN`` for a new one to the lost-answer account."""
        if not orders:
            return []
        now = self._clock.now()
        settle_at = now + self._latency
        with self._db.transaction(write=True) as tx:
            conn = tx.conn
            bind = times(conn).bind
            reasons = self._rejections(conn, [order.creditor for order in orders])
            rows: dict[str, tuple[Any, ...]] = {}
            # One order per key, in key order: concurrent batches meet on the key's
            # index in one order, and never wait on each other in a cycle.
            for order in sorted(orders, key=lambda o: o.idempotency_key):
                c = order.creditor
                reason = reasons[_account(c)]
                outcome = RailState.REJECTED if reason else RailState.SETTLED
                rows.setdefault(
                    order.idempotency_key,
                    (
                        order.idempotency_key,
                        order.end_to_end_id,
                        order.amount,
                        order.payer_ispb,
                        c.ispb,
                        c.branch,
                        c.account,
                        c.document,
                        outcome.value,
                        reason,
                        1,  # submit_count
                        bind(now),
                        bind(settle_at),
                    ),
                )
            created = self._insert(conn, list(rows.values()))
            repeats = sorted(set(rows) - created)
            if repeats:
                run_sql(
                    conn,
                    "UPDATE sandbox_spi_payments SET submit_count = submit_count + 1"
                    " WHERE idempotency_key IN ({in})",
                    (repeats,),
                )
            tx.commit()
        known = self.statuses(repeats) if repeats else {}
        answers = []
        for order in orders:
            key = order.idempotency_key
            if key not in created:  # a repeat: the first payment's status
                answers.append(known.get(key, RailStatus(RailState.UNKNOWN)))
            elif order.creditor.account == LOST_RESPONSE_ACCOUNT:
                answers.append(RailStatus(RailState.UNKNOWN))
            else:
                reason = reasons[_account(order.creditor)]
                outcome = RailState.REJECTED if reason else RailState.SETTLED
                answers.append(self.status_of(order.end_to_end_id, outcome, reason, settle_at))
        return answers

    @staticmethod
    def _insert(conn: Any, rows: list[tuple[Any, ...]]) -> set[str]:
        """Insert the new payments among ``rows`` in one statement; the keys inserted
        (a key taken already is left out). PostgreSQL takes the columns as arrays: one
        statement text whatever the count, which psycopg parses once (sent in binary:
        text in an array needs no escaping then)."""
        if conn.dialect.name == "postgresql":
            columns = tuple(list(column) for column in zip(*rows, strict=True))
            return {key for (key,) in run_sql(conn, _INSERT_ARRAYS, columns, binary=True)}
        created: set[str] = set()
        for start in range(0, len(rows), _CHUNK):
            part = rows[start : start + _CHUNK]
            values = tuple(value for row in part for value in row)
            created.update(key for (key,) in run_sql(conn, _insert(len(part)), values))
        return created

    def statuses(self, keys: list[str]) -> dict[str, RailStatus]:
        """The status of each payment among ``keys`` that SPI has taken."""
        with self._db.transaction(write=False) as tx:
            read = times(tx.conn).read
            rows = run_sql(tx.conn, _STATUS, (keys,))
        return {
            key: self.status_of(e2e, RailState(outcome), reason, read(settle_at))
            for key, e2e, outcome, reason, settle_at in rows
        }

    def status_of(
        self, end_to_end_id: str, outcome: RailState, reason: str | None, settle_at: datetime
    ) -> RailStatus:
        if self._clock.now() < settle_at:
            return RailStatus(RailState.PENDING, end_to_end_id, check_again_at=settle_at)
        if outcome is RailState.REJECTED:
            return RailStatus(RailState.REJECTED, end_to_end_id, reason=reason)
        return RailStatus(RailState.SETTLED, end_to_end_id, settled_at=settle_at)

    def rejection_for(self, creditor: Creditor) -> str | None:
        """The reason code SPI would reject a payment to ``creditor`` with, if any."""
        with self._db.transaction(write=False) as tx:
            return self._rejections(tx.conn, [creditor])[_account(creditor)]

    @staticmethod
    def _rejections(conn: Any, creditors: list[Creditor]) -> dict[_Account, str | None]:
        """The reason code SPI rejects a payment to each account with, as stored (SPI
        answers with whatever code it has: the engine copes with unknown ones): a magic
        account's, or a registered key's that points at the account and rejects."""
        found: dict[_Account, str | None] = {}
        asked = sorted({c.account for c in creditors if c.account not in MAGIC_ACCOUNTS})
        if asked:
            for ispb, branch, account, code in run_sql(conn, _REJECTING, (asked,)):
                found.setdefault((ispb, branch, account), str(code))
        answers: dict[_Account, str | None] = {}
        for c in creditors:
            magic = MAGIC_ACCOUNTS.get(c.account)
            answers[_account(c)] = magic.value if magic else found.get(_account(c))
        return answers


_Account = tuple[str, str, str]  # ISPB, branch, account


def _insert(rows: int) -> str:
    """New payments, ``rows`` of them; a key taken already is left out, and the keys
    inserted come back."""
    values = ", ".join([_ROW] * rows)
    return (
        f"INSERT INTO sandbox_spi_payments ({_COLUMNS}) VALUES {values}"  # noqa: S608 (marks only)
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key"
    )


def _account(creditor: Creditor) -> _Account:
    return creditor.ispb, creditor.branch, creditor.account
