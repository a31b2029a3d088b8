"""SQL storage for the ledger: accounts with running totals, and immutable transfers."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exc, func, select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows, run_sql, upsert
from connectpsp.domain.errors import LedgerViolation
from connectpsp.domain.ledger import Balance, TransferKind
from connectpsp.domain.money import Centavos
from connectpsp.service.ports import Reservation

__all__ = ["AccountCache", "SqlLedger"]


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
                credits_posted=0,
                created_at=self._now,
            )
            .on_conflict_do_nothing(index_elements=["code"])
        )
        self._c.execute(stmt)

    def transfer(
        self,
        transfer_id: str,
        *,
        debit: str,
        credit: str,
        amount: Centavos,
        kind: TransferKind,
        code: str,
        ref: str | None,
    ) -> bool:
        if kind not in (TransferKind.SINGLE, TransferKind.PENDING):
            raise LedgerViolation("Use resolve() to post or void a pending transfer.")
        debit_id, debit_checked = self._cache.lookup(self._c, debit)
        credit_id, credit_checked = self._cache.lookup(self._c, credit)
        a = t.accounts.c
        if debit_checked:
            # The balance check and the reservation are one statement: on PostgreSQL it
            # takes the row lock that orders concurrent cash-outs on this balance; on
            # SQLite the whole transaction already holds the single write lock.
            column = a.debits_pending if kind is TransferKind.PENDING else a.debits_posted
            done = self._c.execute(
                update(t.accounts)
                .where(
                    a.id == debit_id,
                    a.credits_posted - a.debits_posted - a.debits_pending >= amount,
                )
                .values({column: column + amount})
            )
            if done.rowcount != 1:
                return False
        if credit_checked:
            if kind is TransferKind.PENDING:
                raise LedgerViolation("Pending credits to a client account are not supported.")
            self._c.execute(
                update(t.accounts)
                .where(a.id == credit_id)
                .values(credits_posted=a.credits_posted + amount)
            )
        self._insert(transfer_id, debit_id, credit_id, amount, kind, None, code, ref)
        return True

    def lock_balances(self, codes: list[str]) -> dict[str, Balance]:
        # One lock order (account id) for every writer: concurrent batches never deadlock.
        rows = run_sql(
            self._c,
            "SELECT code, credits_posted, debits_posted, debits_pending FROM accounts"
            " WHERE no_overdraft AND code IN ({in}) ORDER BY id {lock}",
            (codes,),
        )
        return {code: Balance(credits, debits, pending) for code, credits, debits, pending in rows}

    def reserve(self, reservations: list[Reservation]) -> None:
        held: dict[int, int] = {}
        rows = []
        for r in reservations:
            debit_id, checked = self._cache.lookup(self._c, r.debit)
            credit_id, credit_checked = self._cache.lookup(self._c, r.credit)
            if not checked or credit_checked:
                raise LedgerViolation("A reservation debits a client account for a PSP account.")
            held[debit_id] = held.get(debit_id, 0) + r.amount
            rows.append(
                {
                    "id": r.transfer_id,
                    "debit_account_id": debit_id,
                    "credit_account_id": credit_id,
                    "amount": r.amount,
                    "kind": TransferKind.PENDING.value,
                    "pending_id": None,
                    "code": r.code,
                    "ref": r.ref,
                    "created_at": self._now,
                }
            )
        if not rows:
            return
        run_sql(
            self._c,
            "UPDATE accounts SET debits_pending = debits_pending + ? WHERE id = ?",
            [(amount, account_id) for account_id, amount in sorted(held.items())],
        )
        insert_rows(self._c, t.transfers, rows)

    def resolve(self, pending_id: str, transfer_id: str, *, post: bool) -> None:
        # Settlement resolves two transfers per cash-out: plain statements, not built
        # afresh by the expression layer each time (see ``run_sql``).
        found = run_sql(
            self._c,
            "SELECT tr.debit_account_id, tr.credit_account_id, tr.amount, tr.kind, tr.code,"
            " tr.ref, debit.no_overdraft, credit.no_overdraft FROM transfers tr"
            " JOIN accounts debit ON debit.id = tr.debit_account_id"
            " JOIN accounts credit ON credit.id = tr.credit_account_id WHERE tr.id = ?",
            (pending_id,),
        )
        if not found or found[0][3] != TransferKind.PENDING.value:
            raise LedgerViolation(f"No pending transfer {pending_id}.")
        debit_id, credit_id, amount, _, code, ref, debit_checked, credit_checked = found[0]
        kind = TransferKind.POST_PENDING if post else TransferKind.VOID_PENDING
        try:
            self._insert(transfer_id, debit_id, credit_id, amount, kind, pending_id, code, ref)
        except exc.IntegrityError as error:
            raise LedgerViolation(f"Pending transfer {pending_id} is already resolved.") from error
        if debit_checked and post:
            run_sql(
                self._c,
                "UPDATE accounts SET debits_pending = debits_pending - ?,"
                " debits_posted = debits_posted + ? WHERE id = ?",
                (amount, amount, debit_id),
            )
        elif debit_checked:
            run_sql(
                self._c,
                "UPDATE accounts SET debits_pending = debits_pending - ? WHERE id = ?",
                (amount, debit_id),
            )
        if post and credit_checked:
            run_sql(
                self._c,
                "UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?",
                (amount, credit_id),
            )

    def balance(self, code: str) -> Balance:
        account_id, checked = self._cache.lookup(self._c, code)
        if checked:
            row = self._c.execute(
                select(
                    t.accounts.c.credits_posted,
                    t.accounts.c.debits_posted,
                    t.accounts.c.debits_pending,
                ).where(t.accounts.c.id == account_id)
            ).one()
            return Balance(row.credits_posted, row.debits_posted, row.debits_pending)
        return self._summed_balance(account_id)

    def summed_balance(self, code: str) -> Balance:
        """The balance recomputed from transfers alone (audits compare it to the totals)."""
        account_id, _ = self._cache.lookup(self._c, code)
        return self._summed_balance(account_id)

    def _summed_balance(self, account_id: int) -> Balance:
        tr = t.transfers.c
        resolved = select(tr.pending_id).where(tr.pending_id.is_not(None))
        posted = tr.kind.in_([TransferKind.SINGLE, TransferKind.POST_PENDING])

        def total(*where: Any) -> int:
            value = self._c.execute(select(func.coalesce(func.sum(tr.amount), 0)).where(*where))
            return int(value.scalar_one())

        return Balance(
            credits_posted=total(tr.credit_account_id == account_id, posted),
            debits_posted=total(tr.debit_account_id == account_id, posted),
            debits_pending=total(
                tr.debit_account_id == account_id,
                tr.kind == TransferKind.PENDING,
                tr.id.not_in(resolved),
            ),
        )

    def account_codes(self) -> list[str]:
        return list(self._c.execute(select(t.accounts.c.code).order_by(t.accounts.c.id)).scalars())

    def _insert(
        self,
        transfer_id: str,
        debit_id: int,
        credit_id: int,
        amount: int,
        kind: TransferKind,
        pending_id: str | None,
        code: str,
        ref: str | None,
    ) -> None:
        row = {
            "id": transfer_id,
            "debit_account_id": debit_id,
            "credit_account_id": credit_id,
            "amount": amount,
            "kind": kind.value,
            "pending_id": pending_id,
            "code": code,
            "ref": ref,
            "created_at": self._now,
        }
        insert_rows(self._c, t.transfers, [row])
