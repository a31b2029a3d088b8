"""SQL implementations of the service's repositories, over one open transaction."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Row, exc, func, insert, or_, select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database, Transaction, insert_rows, run_sql, upsert
from connectpsp.adapters.storage.webhooks import SqlWebhooks
from connectpsp.domain.cashout import (
    BankAccount,
    CashOut,
    CashOutStatus,
    Creditor,
    Failure,
    Payee,
    PixDestination,
)
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import LedgerViolation
from connectpsp.domain.ledger import Balance, FeePlan, TransferKind
from connectpsp.domain.money import Centavos
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.service.ports import Job, Reservation, StoredOutcome

__all__ = ["SqlUnitOfWork", "sql_unit_of_work_factory"]


class SqlClients:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, client: Client) -> None:
        self._c.execute(
            insert(t.clients).values(
                id=client.id,
                name=client.name,
                secret_hash=client.secret_hash,
                crypto_token_enc=client.crypto_token_enc,
                app_token_hash=client.app_token_hash,
                webhook_secret_enc=client.webhook_secret_enc,
                fee_fixed=client.fee_plan.fixed,
                fee_bps=client.fee_plan.bps,
                per_transaction_limit=client.per_transaction_limit,
                daily_limit=client.daily_limit,
                active=client.active,
                created_at=client.created_at,
            )
        )

    def get(self, client_id: str) -> Client | None:
        row = self._c.execute(select(t.clients).where(t.clients.c.id == client_id)).first()
        return _client(row) if row else None

    def list(self) -> list[Client]:
        rows = self._c.execute(select(t.clients).order_by(t.clients.c.created_at)).all()
        return [_client(r) for r in rows]

    def set_active(self, client_id: str, active: bool) -> bool:
        c = t.clients.c
        done = self._c.execute(update(t.clients).where(c.id == client_id).values(active=active))
        return done.rowcount == 1


def _client(r: Row[Any]) -> Client:
    return Client(
        id=r.id,
        name=r.name,
        fee_plan=FeePlan(fixed=r.fee_fixed, bps=r.fee_bps),
        per_transaction_limit=r.per_transaction_limit,
        daily_limit=r.daily_limit,
        active=bool(r.active),
        created_at=r.created_at,
        secret_hash=r.secret_hash,
        crypto_token_enc=r.crypto_token_enc,
        app_token_hash=r.app_token_hash,
        webhook_secret_enc=r.webhook_secret_enc,
    )


class SqlKeys:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def all(self) -> dict[str, str]:
        rows = self._c.execute(select(t.signing_keys.c.kid, t.signing_keys.c.secret_enc))
        return {r.kid: r.secret_enc for r in rows}

    def add(self, kid: str, secret_enc: str, created_at: datetime) -> None:
        self._c.execute(
            upsert(self._c, t.signing_keys)
            .values(kid=kid, secret_enc=secret_enc, created_at=created_at)
            .on_conflict_do_nothing(index_elements=["kid"])
        )


class _AccountCache:
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
    def __init__(self, conn: Connection, now: datetime, cache: _AccountCache) -> None:
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


class SqlCashOuts:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, cash_outs: list[CashOut]) -> None:
        if cash_outs:
            insert_rows(self._c, t.cash_outs, [_cash_out_row(c) for c in cash_outs])

    def get(self, client_id: str, internal_code: str) -> CashOut | None:
        c = t.cash_outs.c
        row = self._c.execute(
            select(t.cash_outs).where(c.internal_code == internal_code, c.client_id == client_id)
        ).first()
        return _cash_out(row) if row else None

    def by_external_reference(self, client_id: str, reference: str) -> CashOut | None:
        c = t.cash_outs.c
        row = self._c.execute(
            select(t.cash_outs).where(c.client_id == client_id, c.external_reference == reference)
        ).first()
        return _cash_out(row) if row else None

    def references_taken(self, references: list[tuple[str, str]]) -> set[tuple[str, str]]:
        if not references:
            return set()
        rows = run_sql(
            self._c,
            "SELECT client_id, external_reference FROM cash_outs"
            " WHERE external_reference IN ({in})",
            (sorted({ref for _, ref in references}),),
        )
        return {(client_id, ref) for client_id, ref in rows} & set(references)

    def by_id(self, cash_out_id: str) -> CashOut | None:
        row = self._c.execute(select(t.cash_outs).where(t.cash_outs.c.id == cash_out_id)).first()
        return _cash_out(row) if row else None

    def by_ids(self, cash_out_ids: list[str]) -> dict[str, CashOut]:
        rows = self._c.execute(select(t.cash_outs).where(t.cash_outs.c.id.in_(cash_out_ids)))
        return {row.id: _cash_out(row) for row in rows}

    def mark_submitted(self, cash_out_id: str, creditor: Creditor, at: datetime) -> bool:
        c = t.cash_outs.c
        # Once only, and only while PROCESSING: of two workers racing, one submits.
        done = self._c.execute(
            update(t.cash_outs)
            .where(
                c.id == cash_out_id,
                c.submitted_at.is_(None),
                c.status == CashOutStatus.PROCESSING.value,
            )
            .values(
                submitted_at=at,
                updated_at=at,
                creditor_name=creditor.name,
                creditor_document=creditor.document,
                creditor_ispb=creditor.ispb,
                creditor_branch=creditor.branch,
                creditor_account=creditor.account,
                creditor_account_type=creditor.account_type.value,
            )
        )
        return done.rowcount == 1

    def finish(
        self,
        cash_out_id: str,
        status: CashOutStatus,
        *,
        at: datetime,
        end_to_end_id: str | None = None,
        paid_at: datetime | None = None,
        failure: Failure | None = None,
        spi_reason_code: str | None = None,
        unsubmitted_only: bool = False,
    ) -> bool:
        CashOutStatus.PROCESSING.check_transition(status)
        c = t.cash_outs.c
        # The status condition makes the move happen once, whoever else tries it.
        where = [c.id == cash_out_id, c.status == CashOutStatus.PROCESSING.value]
        if unsubmitted_only:
            where.append(c.submitted_at.is_(None))
        if spi_reason_code is not None:
            # A rail may send any reason text; keep as much of it as the column holds.
            spi_reason_code = spi_reason_code[: getattr(c.spi_reason_code.type, "length", None)]
        done = self._c.execute(
            update(t.cash_outs)
            .where(*where)
            .values(
                status=status.value,
                updated_at=at,
                end_to_end_id=end_to_end_id,
                paid_at=paid_at,
                failure_code=failure.code if failure else None,
                failure_message=failure.message if failure else None,
                spi_reason_code=spi_reason_code,
            )
        )
        if done.rowcount == 1:
            return True
        current = self._c.execute(
            select(c.status, c.submitted_at).where(c.id == cash_out_id)
        ).first()
        if current is None or current.status == status.value:
            return False  # no such cash-out, or the same move made before: a no-op
        if unsubmitted_only and current.submitted_at is not None:
            return False  # sent to the rail: not ours to fail before submission
        # A terminal cash-out asked to become a different terminal status.
        CashOutStatus(current.status).check_transition(status)
        return False  # pragma: no cover - every move out of a terminal status raises


def _cash_out_row(cash_out: CashOut) -> dict[str, Any]:
    p = cash_out.payee
    d = p.destination
    pix = d if isinstance(d, PixDestination) else None
    bank = d if isinstance(d, BankAccount) else None
    return {
        "id": cash_out.id,
        "internal_code": cash_out.internal_code,
        "client_id": cash_out.client_id,
        "external_reference": cash_out.external_reference,
        "amount": cash_out.amount,
        "fee": cash_out.fee,
        "description": cash_out.description,
        "webhook_url": cash_out.webhook_url,
        "payee_name": p.name,
        "payee_document": p.document,
        "destination_type": "PIX" if pix else "BANK_ACCOUNT",
        "pix_key_type": pix.key_type.value if pix else None,
        "pix_key": pix.key if pix else None,
        "bank_ispb": bank.ispb if bank else None,
        "bank_branch": bank.branch if bank else None,
        "bank_account": bank.account if bank else None,
        "bank_account_type": bank.account_type.value if bank else None,
        "status": cash_out.status.value,
        "requested_at": cash_out.requested_at,
        "updated_at": cash_out.requested_at,
    }


def _cash_out(r: Row[Any]) -> CashOut:
    destination: PixDestination | BankAccount
    if r.destination_type == "PIX":
        destination = PixDestination(PixKeyType(r.pix_key_type), r.pix_key)
    else:
        destination = BankAccount(
            r.bank_ispb, r.bank_branch, r.bank_account, AccountType(r.bank_account_type)
        )
    return CashOut(
        id=r.id,
        internal_code=r.internal_code,
        client_id=r.client_id,
        external_reference=r.external_reference,
        amount=r.amount,
        fee=r.fee,
        description=r.description,
        webhook_url=r.webhook_url,
        payee=Payee(r.payee_name, r.payee_document, destination),
        status=CashOutStatus(r.status),
        requested_at=r.requested_at,
        end_to_end_id=r.end_to_end_id,
        paid_at=r.paid_at,
        failure=Failure(r.failure_code, r.failure_message) if r.failure_code else None,
        spi_reason_code=r.spi_reason_code,
        submitted_at=r.submitted_at,
        creditor=(
            Creditor(
                r.creditor_name,
                r.creditor_document,
                r.creditor_ispb,
                r.creditor_branch,
                r.creditor_account,
                AccountType(r.creditor_account_type),
            )
            if r.creditor_ispb
            else None
        ),
    )


class SqlIdempotency:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def find(self, slots: list[tuple[str, str]]) -> dict[tuple[str, str], StoredOutcome]:
        if not slots:
            return {}
        rows = run_sql(
            self._c,
            "SELECT client_id, key, fingerprint, outcome FROM idempotency_keys WHERE key IN ({in})",
            (sorted({key for _, key in slots}),),
        )
        wanted = set(slots)
        return {
            (client_id, key): StoredOutcome(client_id, key, fingerprint, bytes(outcome))
            for client_id, key, fingerprint, outcome in rows
            if (client_id, key) in wanted
        }

    def store(self, outcomes: list[StoredOutcome], *, at: datetime) -> None:
        if not outcomes:
            return
        insert_rows(
            self._c,
            t.idempotency_keys,
            [
                {
                    "client_id": o.client_id,
                    "key": o.key,
                    "fingerprint": o.fingerprint,
                    "outcome": o.outcome,
                    "created_at": at,
                }
                for o in outcomes
            ],
        )

    def forget_before(self, cutoff: datetime) -> int:
        k = t.idempotency_keys.c
        return int(
            self._c.execute(t.idempotency_keys.delete().where(k.created_at < cutoff)).rowcount
        )


class SqlLimits:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def lock_daily(self, client_ids: list[str], day: date) -> dict[str, Centavos]:
        rows = run_sql(
            self._c,
            "SELECT client_id, amount FROM daily_usage WHERE day = ? AND client_id IN ({in})"
            " ORDER BY client_id {lock}",
            (day.isoformat(), client_ids),
        )
        return dict(rows)

    def set_daily(self, day: date, usage: dict[str, Centavos], *, known: set[str]) -> None:
        updates = [(v, c, day.isoformat()) for c, v in sorted(usage.items()) if c in known]
        inserts = [
            {"client_id": c, "day": day.isoformat(), "amount": v}
            for c, v in sorted(usage.items())
            if c not in known
        ]
        if updates:
            run_sql(
                self._c,
                "UPDATE daily_usage SET amount = ? WHERE client_id = ? AND day = ?",
                updates,
            )
        if inserts:  # a concurrent writer's row for the same day raises StorageConflict
            insert_rows(self._c, t.daily_usage, inserts)

    def release_daily(self, client_id: str, day: date, amount: Centavos) -> None:
        u = t.daily_usage.c
        self._c.execute(
            update(t.daily_usage)
            .where(u.client_id == client_id, u.day == day.isoformat(), u.amount >= amount)
            .values(amount=u.amount - amount)
        )


class SqlOutbox:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def enqueue(
        self, topic: str, jobs: list[tuple[str, dict[str, Any]]], *, available_at: datetime
    ) -> None:
        if not jobs:
            return
        insert_rows(
            self._c,
            t.outbox,
            [
                {
                    "topic": topic,
                    "ref": ref,
                    "payload": json.dumps(payload, separators=(",", ":")),
                    "available_at": available_at,
                    "attempts": 0,
                    "failures": 0,
                    "created_at": available_at,
                }
                for ref, payload in jobs
            ],
        )

    def claim(self, topic: str, *, now: datetime, lease_until: datetime, limit: int) -> list[Job]:
        o = t.outbox.c
        due = (
            select(o.id, o.topic, o.ref, o.payload, o.attempts, o.failures)
            .where(
                o.topic == topic,
                o.done_at.is_(None),
                o.available_at <= now,
                or_(o.locked_until.is_(None), o.locked_until < now),
            )
            .order_by(o.available_at, o.id)
            .limit(limit)
        )
        if self._c.dialect.name == "postgresql":
            # Concurrent workers skip each other's rows instead of queueing on them.
            due = due.with_for_update(skip_locked=True)
        rows = self._c.execute(due).all()
        if not rows:
            return []
        self._c.execute(
            update(t.outbox)
            .where(o.id.in_([r.id for r in rows]))
            .values(locked_until=lease_until, attempts=o.attempts + 1)
        )
        return [
            Job(r.id, r.topic, r.ref, json.loads(r.payload), r.attempts + 1, r.failures)
            for r in rows
        ]

    def finish(self, job_id: int, *, at: datetime) -> None:
        o = t.outbox.c
        self._c.execute(
            update(t.outbox).where(o.id == job_id).values(done_at=at, locked_until=None)
        )

    def defer(self, job_id: int, *, until: datetime, failed: bool) -> None:
        o = t.outbox.c
        self._c.execute(
            update(t.outbox)
            .where(o.id == job_id)
            .values(
                available_at=until,
                locked_until=None,
                failures=o.failures + 1 if failed else 0,
            )
        )


class SqlUnitOfWork:
    """A transaction with the repositories bound to it. Rolls back unless committed."""

    def __init__(self, db: Database, now: datetime, cache: _AccountCache, *, write: bool) -> None:
        self._tx: Transaction = db.transaction(write=write)
        self._now = now
        self._cache = cache

    def __enter__(self) -> SqlUnitOfWork:
        self._tx.__enter__()
        conn = self._tx.conn
        self.connection = conn
        self.clients = SqlClients(conn)
        self.keys = SqlKeys(conn)
        self.ledger = SqlLedger(conn, self._now, self._cache)
        self.cash_outs = SqlCashOuts(conn)
        self.idempotency = SqlIdempotency(conn)
        self.limits = SqlLimits(conn)
        self.outbox = SqlOutbox(conn)
        self.webhooks = SqlWebhooks(conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._tx.__exit__(exc_type, exc_value, tb)

    def commit(self) -> None:
        self._tx.commit()


def sql_unit_of_work_factory(db: Database, clock: Any) -> Any:
    """``factory(write=...)`` -> a fresh ``SqlUnitOfWork`` stamped with the clock's now."""
    cache = _AccountCache()

    def factory(*, write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(db, clock.now(), cache, write=write)

    return factory
