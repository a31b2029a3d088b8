"""SQL storage for the ledger: accounts with running totals, and immutable transfers."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, exc, func, or_, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows, run_sql, upsert
from connectpsp.adapters.storage.times import times
from connectpsp.domain.errors import LedgerViolation
from connectpsp.domain.ledger import Balance, Transfer, TransferKind

__all__ = ["AccountCache", "SqlLedger"]

_NOTHING = Balance(0, 0, 0, 0)

# A line's time moves on only when the account gets lines (the first ``?``).
_ADD_TOTALS = (
    "UPDATE accounts SET debits_pending = debits_pending + ?,"
    " debits_posted = debits_posted + ?, credits_pending = credits_pending + ?,"
    " credits_posted = credits_posted + ?, movements = movements + ?,"
    " last_movement_at = CASE WHEN ? = 0 OR last_movement_at > ? THEN last_movement_at"
    " ELSE ? END WHERE id = ?"
    " RETURNING id, movements, credits_posted - debits_posted - debits_pending,"
    " last_movement_at"
)


_BALANCES = (
    "SELECT code, credits_posted, debits_posted, debits_pending, credits_pending"
    " FROM accounts WHERE no_overdraft AND code IN ({in}) ORDER BY id"
)


def _available_change(transfer: Transfer, *, debited: bool) -> int:
    """What ``transfer`` does to an account's available balance (``Balance.after``'s
    rule, without building a balance): a post moves only what was reserved already."""
    kind = transfer.kind
    if debited:
        if kind is TransferKind.POST_PENDING:
            return 0
        return transfer.amount if kind is TransferKind.VOID_PENDING else -transfer.amount
    posted = kind in (TransferKind.SINGLE, TransferKind.POST_PENDING)
    return transfer.amount if posted else 0


class AccountCache:
    """Account code -> (id, no_overdraft). Accounts are never renumbered or deleted."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[int, bool]] = {}
        self._lock = threading.Lock()

    def lookup(self, conn: Connection, code: str) -> tuple[int, bool]:
        found = self._known.get(code)
        if found is None:
            row = conn.execute(
                select(t.accounts.c.id, t.accounts.c.no_overdraft).where(t.accounts.c.code == code)
            ).first()
            if row is None:
                raise LedgerViolation(f"No ledger account {code!r}.")
            found = (row.id, bool(row.no_overdraft))
            with self._lock:
                self._known[code] = found
        return found


class SqlLedger:
    def __init__(self, conn: Connection, now: datetime, cache: AccountCache) -> None:
        self._c = conn
        self._now = now
        self._cache = cache

    def open_account(self, code: str, *, client_id: str | None, no_overdraft: bool) -> None:
        stmt = (
            upsert(self._c, t.accounts)
            .values(
                code=code,
                client_id=client_id,
                no_overdraft=no_overdraft,
                debits_pending=0,
                debits_posted=0,
                credits_pending=0,
                credits_posted=0,
                created_at=self._now,
            )
            .on_conflict_do_nothing(index_elements=["code"])
        )
        self._c.execute(stmt)

    def lock_balances(self, codes: list[str]) -> dict[str, Balance]:
        # One lock order (account id) for every writer: concurrent batches never deadlock.
        rows = run_sql(self._c, _BALANCES + " {lock}", (codes,))
        return {code: Balance(*totals) for code, *totals in rows}

    def balances(self, codes: list[str]) -> dict[str, Balance]:
        return {code: Balance(*totals) for code, *totals in run_sql(self._c, _BALANCES, (codes,))}

    def pending(self, transfer_ids: list[str]) -> dict[str, Transfer]:
        if not transfer_ids:
            return {}
        rows = run_sql(
            self._c,
            "SELECT tr.id, debit.code, credit.code, tr.amount, tr.code, tr.ref FROM transfers tr"
            " JOIN accounts debit ON debit.id = tr.debit_account_id"
            " JOIN accounts credit ON credit.id = tr.credit_account_id"
            " WHERE tr.kind = 'pending' AND tr.id IN ({in})",
            (transfer_ids,),
        )
        return {
            row[0]: Transfer(row[0], row[1], row[2], row[3], TransferKind.PENDING, row[4], row[5])
            for row in rows
        }

    def record(self, transfers: list[Transfer]) -> None:
        """The running totals of the checked accounts first, one statement per account in
        id order (so concurrent writers lock alike), each returning the account's
        statement number and available balance; then the transfers in one
        ``executemany``, each carrying its statement lines (docs/statement.md). No
        statement more than before. The database's CHECKs refuse an overdraft, and the
        unique ``pending_id`` a second resolution of a pending transfer."""
        if not transfers:
            return
        # What the transfers add to each checked account's totals, by the domain's rule,
        # and the statement lines (changes of its available balance) each gets.
        deltas: dict[int, Balance] = {}
        lines: dict[int, list[int]] = {}
        sides: list[tuple[int, int, int, int]] = []  # ids and available changes
        for transfer in transfers:
            debit_id, debit_checked = self._cache.lookup(self._c, transfer.debit)
            credit_id, credit_checked = self._cache.lookup(self._c, transfer.credit)
            changes = [0, 0]
            for side, (account_id, checked, debited) in enumerate(
                ((debit_id, debit_checked, True), (credit_id, credit_checked, False))
            ):
                if checked:
                    delta = deltas.get(account_id, _NOTHING)
                    deltas[account_id] = delta.after(transfer, debited=debited)
                    changes[side] = _available_change(transfer, debited=debited)
                    if changes[side]:
                        lines.setdefault(account_id, []).append(changes[side])
            sides.append((debit_id, changes[0], credit_id, changes[1]))
        ends = self._add_totals(deltas, lines, any(t.pending_id for t in transfers))
        # Each account's first new line follows the number and balance it had before.
        state = {
            i: (seq - len(lines[i]), available - sum(lines[i]), at)
            for i, (seq, available, at) in ends.items()
        }
        rows = []
        for transfer, (debit_id, debit_change, credit_id, credit_change) in zip(
            transfers, sides, strict=True
        ):
            at = self._now
            row: dict[str, Any] = {
                "id": transfer.id,
                "debit_account_id": debit_id,
                "credit_account_id": credit_id,
                "amount": transfer.amount,
                "kind": transfer.kind.value,
                "pending_id": transfer.pending_id,
                "code": transfer.code,
                "ref": transfer.ref,
                "debit_seq": None,
                "debit_after": None,
                "credit_seq": None,
                "credit_after": None,
            }
            for prefix, account_id, change in (
                ("debit", debit_id, debit_change),
                ("credit", credit_id, credit_change),
            ):
                if change:
                    seq, available, last = state[account_id]
                    state[account_id] = (seq + 1, available + change, last)
                    row[f"{prefix}_seq"] = seq + 1
                    row[f"{prefix}_after"] = available + change
                    at = max(at, last)
            rows.append({**row, "created_at": at})
        try:
            insert_rows(self._c, t.transfers, rows)
        except exc.IntegrityError as error:
            if any(transfer.pending_id for transfer in transfers):
                raise LedgerViolation("A pending transfer is already resolved.") from error
            raise

    def _add_totals(
        self, deltas: dict[int, Balance], lines: dict[int, list[int]], resolves: bool
    ) -> dict[int, tuple[int, int, datetime]]:
        """Add ``deltas`` to the accounts' totals and count their new statement lines;
        for each account with lines, its statement number, available balance and latest
        line time after them (never before ``now``, never before its previous line)."""
        if not deltas:
            return {}
        stamp = times(self._c)
        now = stamp.bind(self._now)
        params = [
            (
                d.debits_pending,
                d.debits_posted,
                d.credits_pending,
                d.credits_posted,
                len(lines.get(i, ())),
                len(lines.get(i, ())),
                now,
                now,
                i,
            )
            for i, d in sorted(deltas.items())
        ]
        try:
            rows = run_sql(self._c, _ADD_TOTALS, params)
        except exc.IntegrityError as error:
            # Resolving what a concurrent writer resolved drives a total below zero.
            if resolves:
                raise LedgerViolation("A pending transfer is already resolved.") from error
            raise
        return {
            account_id: (seq, available, stamp.read(at))
            for account_id, seq, available, at in rows
            if account_id in lines
        }

    def balance(self, code: str) -> Balance:
        account_id, checked = self._cache.lookup(self._c, code)
        if checked:
            a = t.accounts.c
            row = self._c.execute(
                select(
                    a.credits_posted, a.debits_posted, a.debits_pending, a.credits_pending
                ).where(a.id == account_id)
            ).one()
            return Balance(*row)
        return self._summed_balance(account_id)

    def summed_balance(self, code: str) -> Balance:
        """The balance recomputed from transfers alone (audits compare it to the totals)."""
        account_id, _ = self._cache.lookup(self._c, code)
        return self._summed_balance(account_id)

    def _summed_balance(self, account_id: int) -> Balance:
        # One statement: on PostgreSQL each statement of a transaction sees its own
        # snapshot, so four sums read apart could count a post that committed between
        # them as neither pending nor posted.
        tr = t.transfers.c
        resolved = select(tr.pending_id).where(tr.pending_id.is_not(None))
        posted = tr.kind.in_([TransferKind.SINGLE, TransferKind.POST_PENDING])
        unresolved = and_(tr.kind == TransferKind.PENDING, tr.id.not_in(resolved))
        debit, credit = tr.debit_account_id == account_id, tr.credit_account_id == account_id

        def total(*where: Any) -> Any:
            return func.coalesce(func.sum(case((and_(*where), tr.amount), else_=0)), 0)

        row = self._c.execute(
            select(
                total(credit, posted),
                total(debit, posted),
                total(debit, unresolved),
                total(credit, unresolved),
            ).where(or_(debit, credit))
        ).one()
        return Balance(*(int(value) for value in row))

    def account_codes(self) -> list[str]:
        return list(self._c.execute(select(t.accounts.c.code).order_by(t.accounts.c.id)).scalars())
