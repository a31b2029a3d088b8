"""Invariants a run must leave behind, checked straight from the database. Each function
returns a list of problems; an empty list is a pass."""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import ColumnElement, Connection, exists, func, select, true

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from connectpsp.domain.cashout_acceptance import fee_transfer_id
from connectpsp.service.settlement import rail_key


def ledger_problems(db: Database) -> list[str]:
    """Double entry holds, running totals match the transfers, no balance is negative,
    and every pending transfer is resolved at most once.

    The sums are the database's (GROUP BY): a model test checks this after each of
    thousands of examples on one growing database, so it must stay linear."""
    problems: list[str] = []
    tr = t.transfers.c
    resolver = t.transfers.alias("resolver")
    posted = tr.kind.in_(("single", "post_pending"))
    resolved = exists().where(resolver.c.pending_id == tr.id)
    with db.transaction(write=False) as tx:
        conn = tx.conn
        accounts = conn.execute(select(t.accounts)).all()
        twice = conn.execute(
            select(tr.pending_id, func.count())
            .where(tr.pending_id.is_not(None))
            .group_by(tr.pending_id)
            .having(func.count() > 1)
        ).all()
        not_pending = (
            conn.execute(select(tr.id).where(tr.kind != "pending", resolved)).scalars().all()
        )
        posted_in = _sums(conn, tr.credit_account_id, posted)
        posted_out = _sums(conn, tr.debit_account_id, posted)
        pending_out = _sums(conn, tr.debit_account_id, (tr.kind == "pending") & ~resolved)
        pending_in = _sums(conn, tr.credit_account_id, (tr.kind == "pending") & ~resolved)
    problems += [f"pending {pending_id} resolved {times} times" for pending_id, times in twice]
    problems += [f"{transfer_id} resolved but is not pending" for transfer_id in not_pending]
    net = 0
    for account in accounts:
        ins, outs = posted_in.get(account.id, 0), posted_out.get(account.id, 0)
        held, coming = pending_out.get(account.id, 0), pending_in.get(account.id, 0)
        net += ins - outs
        if account.no_overdraft:
            totals = (
                account.credits_posted,
                account.debits_posted,
                account.debits_pending,
                account.credits_pending,
            )
            summed = (ins, outs, held, coming)
            if totals != summed:
                problems.append(f"{account.code}: totals {totals} != transfers {summed}")
            if ins - outs - held < 0:
                problems.append(f"{account.code}: negative available balance")
    if net != 0:
        problems.append(f"the ledger sums to {net}, not 0")
    return problems


def _sums(
    conn: Connection, account: ColumnElement[str], where: ColumnElement[bool]
) -> dict[str, int]:
    """The transfers' amounts matching ``where``, summed per ``account``."""
    rows = conn.execute(
        select(account, func.sum(t.transfers.c.amount)).where(where).group_by(account)
    )
    return {account_id: int(total) for account_id, total in rows}


def risk_problems(db: Database, client_ids: list[str] | None = None) -> list[str]:
    """Each client's ``risk_totals`` row is the aggregate of its ``risk_decisions`` (how
    many were decided, the amount of those accepted); its decisions' ``decided_total``
    run 1..n without a gap or a repeat, each ``accepted_total`` the running sum of the
    accepted amounts in that order; and the payees it has paid (``client_payees``) are
    those of its accepted decisions. The rules' windows are differences of these tallies,
    so a tally off by one is a window off by one.

    ``client_ids`` narrows the check to those clients: a model test checks its own after
    each of thousands of examples on one growing database."""
    d, paid_c = t.risk_decisions.c, t.client_payees.c

    def of_clients(column: ColumnElement[str]) -> ColumnElement[bool]:
        return column.in_(client_ids) if client_ids is not None else true()

    with db.transaction(write=False) as tx:
        conn = tx.conn
        rows = conn.execute(
            select(d.client_id, d.decided_total, d.accepted_total, d.amount, d.code, d.payee)
            .where(of_clients(d.client_id))
            .order_by(d.client_id, d.decided_total)
        ).all()
        totals = {
            client_id: (decided, accepted)
            for client_id, decided, accepted in conn.execute(
                select(t.risk_totals).where(of_clients(t.risk_totals.c.client_id))
            )
        }
        paid: dict[str, set[str]] = defaultdict(set)
        for client_id, payee in conn.execute(
            select(paid_c.client_id, paid_c.payee).where(of_clients(paid_c.client_id))
        ):
            paid[client_id].add(payee)
    problems: list[str] = []
    decided: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    accepted_payees: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        decided[r.client_id] += 1
        if r.code is None:
            accepted[r.client_id] += r.amount
            accepted_payees[r.client_id].add(r.payee)
        if r.decided_total != decided[r.client_id]:
            problems.append(
                f"client {r.client_id}: decision {decided[r.client_id]} of its history has "
                f"decided_total {r.decided_total}"
            )
        if r.accepted_total != accepted[r.client_id]:
            problems.append(
                f"client {r.client_id}: decision {r.decided_total} has accepted_total "
                f"{r.accepted_total}, its accepted amounts sum to {accepted[r.client_id]}"
            )
    for client_id in sorted(set(decided) | set(totals)):
        summed = (decided[client_id], accepted[client_id])
        if totals.get(client_id) != summed:
            problems.append(f"client {client_id}: risk_totals {totals.get(client_id)} != {summed}")
    for client_id in sorted(set(paid) | set(accepted_payees)):
        if paid[client_id] != accepted_payees[client_id]:
            problems.append(
                f"client {client_id}: paid {len(paid[client_id])} payees, accepted cash-outs "
                f"to {len(accepted_payees[client_id])}"
            )
    return problems


def settlement_problems(db: Database, accepted: list[str]) -> list[str]:
    """Every accepted cash-out is terminal, its reservation was posted or voided exactly
    once (as the ledger's transfers say), the rail was asked to pay it at most once, the
    rail's payment agrees with the outcome, and its event was enqueued once.

    COMPLETED needs the rail's SETTLED payment with the same endToEndId. FAILED needs no
    payment at all (refused before it was sent) or a REJECTED one with the same reason:
    a FAILED cash-out whose payment settled is money the rail paid and we refunded."""
    problems: list[str] = []
    c, tr = t.cash_outs.c, t.transfers.c
    with db.transaction(write=False) as tx:
        conn = tx.conn
        rows = {r.id: r for r in conn.execute(select(t.cash_outs).where(c.id.in_(accepted)))}
        resolutions: dict[str, list[str]] = defaultdict(list)
        for r in conn.execute(
            select(tr.pending_id, tr.kind).where(
                tr.pending_id.is_not(None), tr.kind.in_(("post_pending", "void_pending"))
            )
        ):
            resolutions[r.pending_id].append(r.kind)
        payments = {r.idempotency_key: r for r in conn.execute(select(t.sandbox_spi_payments))}
        m = t.webhook_messages.c
        events = Counter(
            r.subject_id
            for r in conn.execute(
                select(m.subject_id).where(m.shape == "movement", m.subject_kind == "cash_out")
            )
        )
    if len(rows) != len(accepted):
        problems.append(f"{len(accepted) - len(rows)} accepted cash-outs are missing")
    # Counted from the ledger, not from the status: each reservation resolved once.
    posted = sum(resolutions.get(x) == ["post_pending"] for x in accepted)
    voided = sum(resolutions.get(x) == ["void_pending"] for x in accepted)
    if posted + voided != len(accepted):
        problems.append(f"posted {posted} + voided {voided} != accepted {len(accepted)}")
    for cash_out_id, row in rows.items():
        expected = {"COMPLETED": "post_pending", "FAILED": "void_pending"}.get(row.status)
        if expected is None:
            problems.append(f"{row.internal_code} is still {row.status}")
            continue
        for pending in [cash_out_id] + ([fee_transfer_id(cash_out_id)] if row.fee else []):
            if resolutions.get(pending) != [expected]:
                problems.append(
                    f"{row.internal_code} {row.status} but {pending} is {resolutions.get(pending)}"
                )
        payment = payments.get(rail_key(cash_out_id))
        if payment is not None and payment.submit_count != 1:
            problems.append(
                f"{row.internal_code}: the rail was asked to pay {payment.submit_count} times"
            )
        if row.status == "COMPLETED" and (
            payment is None
            or payment.outcome != "SETTLED"
            or payment.end_to_end_id != row.end_to_end_id
        ):
            problems.append(f"{row.internal_code} COMPLETED without its settled payment")
        if row.status == "FAILED" and payment is not None:
            if payment.outcome != "REJECTED":
                problems.append(
                    f"{row.internal_code} FAILED but the rail's payment is {payment.outcome}"
                )
            elif payment.reason_code != row.spi_reason_code:
                problems.append(
                    f"{row.internal_code}: reason {row.spi_reason_code} != rail's "
                    f"{payment.reason_code}"
                )
        if events[cash_out_id] != 1:
            problems.append(f"{row.internal_code}: {events[cash_out_id]} terminal events")
    return problems
