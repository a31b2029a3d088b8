"""Invariants a run must leave behind, checked straight from the database. Each function
returns a list of problems; an empty list is a pass."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, exists, func, select, true

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database, Transaction
from connectpsp.domain.blocks import blocked_account_code
from connectpsp.domain.cashout_acceptance import fee_transfer_id
from connectpsp.domain.ids import derived_id
from connectpsp.domain.ledger import PSP_FEES, PSP_SETTLEMENT, WORLD, client_account_code
from connectpsp.service.settlement import rail_key
from connectpsp.settings import Settings


def _snapshot(db: Database, tx: Transaction) -> Connection:
    """One snapshot for every read of a check, as SQLite's WAL reader has: under
    PostgreSQL's READ COMMITTED, a refund read PROCESSING could be posted by the worker
    before the check sums the transfers, a false alarm."""
    if not db.is_sqlite:
        tx.conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    return tx.conn


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
        conn = _snapshot(db, tx)
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
        available = {
            account_id: posted_in.get(account_id, 0)
            - posted_out.get(account_id, 0)
            - pending_out.get(account_id, 0)
            for account_id in {*posted_in, *posted_out, *pending_out}
        }
        problems += statement_problems(conn, available)
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


def statement_problems(conn: Connection, available: dict[Any, int]) -> list[str]:
    """Each checked account's statement lines (docs/statement.md) are numbered 1..n
    without a gap or a repeat, n its ``movements``, and the last line's balance is its
    ``available`` balance (as its transfers sum it). Linear: the lines, grouped."""
    tr = t.transfers.c
    lines = (
        select(tr.debit_account_id.label("account"), tr.debit_seq.label("seq"))
        .where(tr.debit_seq.is_not(None))
        .union_all(select(tr.credit_account_id, tr.credit_seq).where(tr.credit_seq.is_not(None)))
        .subquery()
    )
    counted = {
        account: (count, distinct, last)
        for account, count, distinct, last in conn.execute(
            select(
                lines.c.account,
                func.count(),
                func.count(lines.c.seq.distinct()),
                func.max(lines.c.seq),
            ).group_by(lines.c.account)
        )
    }
    a = t.accounts.c
    last_after: dict[int, int] = {}
    for account_id, after in [
        *conn.execute(
            select(tr.debit_account_id, tr.debit_after)
            .join(t.accounts, a.id == tr.debit_account_id)
            .where(tr.debit_seq == a.movements)
        ),
        *conn.execute(
            select(tr.credit_account_id, tr.credit_after)
            .join(t.accounts, a.id == tr.credit_account_id)
            .where(tr.credit_seq == a.movements)
        ),
    ]:
        last_after[account_id] = after
    problems = []
    for account in conn.execute(select(t.accounts).where(a.no_overdraft)):
        n = account.movements
        if counted.get(account.id, (0, 0, 0)) != ((n, n, n) if n else (0, 0, 0)):
            problems.append(f"{account.code}: statement lines {counted.get(account.id)} != 1..{n}")
        summed = available.get(account.id, 0)
        if n and last_after.get(account.id) != summed:
            problems.append(f"{account.code}: last line's balance is not {summed}")
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
    many were decided, the amount of those accepted); its rows' ``decided_total`` run up
    to n, each row's by the number of decisions it holds, without a gap or a repeat, each
    ``accepted_total`` the running sum of the accepted amounts in that order; and the
    payees it has paid (``client_payees``) are those of its accepted decisions. The
    rules' windows are differences of these tallies, so a tally off by one is a window
    off by one.

    ``client_ids`` narrows the check to those clients: a model test checks its own after
    each of thousands of examples on one growing database."""
    d, paid_c = t.risk_decisions.c, t.client_payees.c

    def of_clients(column: ColumnElement[str]) -> ColumnElement[bool]:
        return column.in_(client_ids) if client_ids is not None else true()

    with db.transaction(write=False) as tx:
        conn = _snapshot(db, tx)
        rows = conn.execute(
            select(d.client_id, d.decided_total, d.accepted_total, d.decisions)
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
        for entry in json.loads(r.decisions):
            decided[r.client_id] += 1
            if entry["code"] is None:
                accepted[r.client_id] += entry["amount"]
                accepted_payees[r.client_id].add(entry["payee"])
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


def settlement_problems(db: Database, accepted: list[str], ispb: str = Settings.ispb) -> list[str]:
    """Every accepted cash-out is terminal, its reservation was posted or voided exactly
    once (as the ledger's transfers say), the rail was asked to pay it at most once, the
    rail's payment agrees with the outcome, and its event was enqueued once.

    COMPLETED needs the rail's SETTLED payment with the same endToEndId, unless it was
    on-us (its creditor at ``ispb``): SPI never saw it, and ``cash_in_problems`` checks
    the receiver's credit instead. FAILED needs no
    payment at all (refused before it was sent) or a REJECTED one with the same reason:
    a FAILED cash-out whose payment settled is money the rail paid and we refunded."""
    problems: list[str] = []
    c, tr = t.cash_outs.c, t.transfers.c
    with db.transaction(write=False) as tx:
        conn = _snapshot(db, tx)
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
        on_us = row.creditor_ispb == ispb
        if (
            row.status == "COMPLETED"
            and not on_us
            and (
                payment is None
                or payment.outcome != "SETTLED"
                or payment.end_to_end_id != row.end_to_end_id
            )
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


# Every reason money moves in the ledger. A transfer with another code is a movement the
# conservation check below does not know about: it is reported, so that the check grows
# with the service instead of passing by ignorance.
KNOWN_CODES = frozenset(
    {
        "sandbox_fund",
        "cash_out",
        "cash_out_fee",
        "cash_in",
        "cash_in_fee",
        "cash_in_refund",
        "block",
        "block_release",
        "cash_out_return",
    }
)


def cash_in_problems(db: Database, ispb: str = Settings.ispb) -> list[str]:
    """Cash-ins, their charges, on-us payments, blocks, and the conservation of money.

    - Each ``cash_ins`` row has exactly its credit (``cash_in``: psp:settlement to the
      client, its amount) and, when its fee is not 0, its fee (``cash_in_fee``: the client
      to psp:fees), under the ids derived from its endToEndId; no such transfer exists
      without its row.
    - A charge's payments are its client's; a dynamic charge has at most one and is
      COMPLETED iff it has one; a charge with an amount was paid that amount.
    - An on-us cash-out (its creditor is at ``ispb``, ours) that is COMPLETED was credited
      to the receiver: a ``cash_ins`` row under its endToEndId, with its amount. A FAILED
      one has none (the payer got its reservation back: a credit too would be money made).
    - A block holds a cash-in's net amount (``block``: the client's account to its
      blocked account) and, once released, gives it back (``block_release``), each once;
      the blocked account holds the sum of the active blocks.
    - A MED report is its Pix's client's, has its block exactly when it blocked
      something, and its refund (when accepted) is a FRAUD refund of its Pix within what
      it blocked; every FRAUD refund is an accepted report's.

    Conservation. The ledger has five kinds of account: world:external (the outside
    world that funds the sandbox), psp:settlement (our account at the central bank, seen
    from inside: what goes out through SPI passes through it, what SPI brings comes from
    it), psp:fees, and each client's available and blocked accounts. Balances are
    posted credits minus posted debits; ``ledger_problems`` checks they sum to 0. From the
    business records alone, at any commit:

        world         = - funded
        psp:settlement = sum(amount of COMPLETED cash-outs) - sum(amount of cash-ins)
        psp:fees       = sum(fee of COMPLETED cash-outs) + sum(fee of cash-ins)
        client + its blocked = its funding - its COMPLETED cash-outs' amount + fee
                               + its cash-ins' amount - fee

    An on-us cash-out is in both sums of psp:settlement (out of the payer, into the
    receiver) and cancels, so psp:settlement = paid out through SPI - received through
    SPI, and with the ledger summing to 0: all clients (available + blocked) + psp:fees
    = funded + received through SPI - paid out through SPI. Money neither appears nor
    vanishes: a Pix credited twice, or a cash-out completed and refunded, breaks it.

    Only the Python objects of these tables are read: a crash loop's database holds a few
    thousand rows."""
    problems: list[str] = []
    tr = t.transfers.c
    debit, credit = t.accounts.alias("debit"), t.accounts.alias("credit")
    posted = tr.kind.in_(("single", "post_pending"))
    with db.transaction(write=False) as tx:
        conn = _snapshot(db, tx)
        cash_ins = conn.execute(select(t.cash_ins)).all()
        returns = conn.execute(select(t.cash_out_returns)).all()
        refunds = conn.execute(select(t.cash_in_refunds)).all()
        refund_steps = conn.execute(
            select(tr.id, tr.kind, tr.amount, tr.ref, tr.pending_id).where(
                tr.code == "cash_in_refund"
            )
        ).all()
        return_credits = {
            row.id: row
            for row in conn.execute(
                select(tr.id, tr.amount, tr.ref, tr.kind).where(tr.code == "cash_out_return")
            )
        }
        charges = {r.id: r for r in conn.execute(select(t.charges))}
        cash_outs = conn.execute(
            select(
                t.cash_outs.c.id,
                t.cash_outs.c.internal_code,
                t.cash_outs.c.client_id,
                t.cash_outs.c.amount,
                t.cash_outs.c.fee,
                t.cash_outs.c.status,
                t.cash_outs.c.end_to_end_id,
                t.cash_outs.c.creditor_ispb,
            )
        ).all()
        blocks = conn.execute(select(t.balance_blocks)).all()
        reports = {r.end_to_end_id: r for r in conn.execute(select(t.med_infractions))}
        moves = conn.execute(
            select(
                tr.id,
                tr.kind,
                tr.code,
                tr.ref,
                tr.amount,
                debit.c.code.label("source"),
                credit.c.code.label("target"),
            )
            .select_from(
                t.transfers.join(debit, debit.c.id == tr.debit_account_id).join(
                    credit, credit.c.id == tr.credit_account_id
                )
            )
            .where(tr.code.in_(("cash_in", "cash_in_fee", "block", "block_release")))
        ).all()
        balances: Counter[str] = Counter()
        for code, total in conn.execute(
            select(credit.c.code, func.sum(tr.amount))
            .select_from(t.transfers.join(credit, credit.c.id == tr.credit_account_id))
            .where(posted)
            .group_by(credit.c.code)
        ):
            balances[code] += int(total)
        for code, total in conn.execute(
            select(debit.c.code, func.sum(tr.amount))
            .select_from(t.transfers.join(debit, debit.c.id == tr.debit_account_id))
            .where(posted)
            .group_by(debit.c.code)
        ):
            balances[code] -= int(total)
        funded: Counter[str] = Counter()
        for client_account, total in conn.execute(
            select(credit.c.code, func.sum(tr.amount))
            .select_from(t.transfers.join(credit, credit.c.id == tr.credit_account_id))
            .where(tr.code == "sandbox_fund")
            .group_by(credit.c.code)
        ):
            funded[client_account] += int(total)
        owners = (
            conn.execute(
                select(t.accounts.c.client_id).where(t.accounts.c.client_id.is_not(None)).distinct()
            )
            .scalars()
            .all()
        )
        unknown = conn.execute(
            select(tr.code, func.count()).where(tr.code.not_in(KNOWN_CODES)).group_by(tr.code)
        ).all()
    problems += [f"{n} transfers of unknown code {code!r}" for code, n in unknown]

    # Each cash-in's transfers, exactly.
    by_id = {m.id: m for m in moves}
    expected_ids: set[str] = set()
    payments_of: dict[str, list[Row[Any]]] = defaultdict(list)
    for ci in cash_ins:
        e2e, account = ci.end_to_end_id, client_account_code(ci.client_id)
        wanted = [(derived_id(e2e, "cash_in"), PSP_SETTLEMENT, account, ci.amount, "cash_in")]
        if ci.fee:
            wanted.append(
                (derived_id(e2e, "cash_in_fee"), account, PSP_FEES, ci.fee, "cash_in_fee")
            )
        for transfer_id, source, target, amount, code in wanted:
            expected_ids.add(transfer_id)
            m = by_id.get(transfer_id)
            found = (m.kind, m.code, m.ref, m.source, m.target, m.amount) if m else None
            if found != ("single", code, e2e, source, target, amount):
                problems.append(f"cash-in {e2e}: {code} is {found}")
        if ci.charge_id is not None:
            payments_of[ci.charge_id].append(ci)
    problems += [
        f"{m.code} transfer {m.id} (ref {m.ref}) has no cash-in"
        for m in moves
        if m.code in ("cash_in", "cash_in_fee") and m.id not in expected_ids
    ]

    # Charges.
    for charge_id, paid in payments_of.items():
        charge = charges.get(charge_id)
        if charge is None:
            problems.append(f"cash-ins of a charge {charge_id} that does not exist")
            continue
        problems += [
            f"charge {charge.internal_code}: paid by {p.end_to_end_id} to client {p.client_id}"
            for p in paid
            if p.client_id != charge.client_id
        ]
        if charge.amount is not None:
            problems += [
                f"charge {charge.internal_code} of {charge.amount} paid {p.amount}"
                for p in paid
                if p.amount != charge.amount
            ]
    for charge in charges.values():
        if charge.type != "DYNAMIC":
            continue
        paid = payments_of.get(charge.id, [])
        if len(paid) > 1:
            problems.append(f"dynamic charge {charge.internal_code} paid {len(paid)} times")
        if (charge.status == "COMPLETED") != (len(paid) == 1):
            problems.append(
                f"dynamic charge {charge.internal_code} {charge.status}, {len(paid)} paid"
            )

    # On-us cash-outs.
    received = {ci.end_to_end_id: ci for ci in cash_ins}
    for co in cash_outs:
        credited = received.get(co.end_to_end_id) if co.end_to_end_id else None
        on_us = co.creditor_ispb == ispb
        if credited is not None and not on_us:
            problems.append(f"{co.internal_code} went out through SPI and was credited here")
        if not on_us:
            continue
        if co.status == "COMPLETED" and (credited is None or credited.amount != co.amount):
            problems.append(f"on-us {co.internal_code} COMPLETED, credited {credited}")
        if co.status == "FAILED" and credited is not None:
            problems.append(f"on-us {co.internal_code} FAILED but credited {credited.amount}")

    # Blocks.
    active: Counter[str] = Counter()
    block_ids: set[str] = set()
    for b in blocks:
        held = received.get(b.end_to_end_id)
        if b.reason == "MED":
            problems += _med_block_problems(b, reports.get(b.end_to_end_id), held)
        else:
            if b.id != derived_id(b.end_to_end_id, "block"):
                problems.append(f"block {b.id} is not the block of {b.end_to_end_id}")
            net = (held.client_id, held.amount - held.fee) if held else None
            if net != (b.client_id, b.amount):
                problems.append(f"block {b.id} of {b.amount} does not hold its cash-in's net")
        account, blocked = client_account_code(b.client_id), blocked_account_code(b.client_id)
        moves_of_block = [(derived_id(b.id, "hold"), account, blocked, "block")]
        if b.released_at is not None:
            moves_of_block.append((derived_id(b.id, "release"), blocked, account, "block_release"))
        else:
            active[blocked] += b.amount
        for transfer_id, source, target, code in moves_of_block:
            block_ids.add(transfer_id)
            m = by_id.get(transfer_id)
            found = (m.kind, m.code, m.ref, m.source, m.target, m.amount) if m else None
            if found != ("single", code, b.end_to_end_id, source, target, b.amount):
                problems.append(f"block {b.id}: {code} is {found}")
    problems += [
        f"{m.code} transfer {m.id} (ref {m.ref}) has no block or is one too many"
        for m in moves
        if m.code in ("block", "block_release") and m.id not in block_ids
    ]
    for code, balance in balances.items():
        if code.endswith(":blocked") and balance != active[code]:
            problems.append(f"{code} holds {balance}, its active blocks {active[code]}")

    # Returns: each credited once, by its own transfer, within its cash-out's amount.
    by_cash_out = {co.id: co for co in cash_outs}
    returned: Counter[str] = Counter()
    for back in returns:
        returned[back.cash_out_id] += back.amount
        credit_id = derived_id(back.return_id, "cash_out_return")
        credited = return_credits.pop(credit_id, None)
        seen = (credited.amount, credited.ref, credited.kind) if credited is not None else None
        if seen != (back.amount, back.cash_out_id, "single"):
            problems.append(f"return {back.return_id}: its credit is {seen}")
    problems += [f"cash_out_return transfer {i} has no return" for i in return_credits]
    for cash_out_id, amount in returned.items():
        origin = by_cash_out.get(cash_out_id)
        if origin is None or origin.status != "COMPLETED" or amount > origin.amount:
            problems.append(f"cash-out {cash_out_id}: {amount} returned of {origin}")

    problems += _refund_problems(refunds, refund_steps, received)
    problems += _med_report_problems(list(reports.values()), blocks, refunds, received)
    refunded = [r for r in refunds if r.status == "COMPLETED"]

    # Conservation, each account from the business records.
    completed = [co for co in cash_outs if co.status == "COMPLETED"]
    expected: Counter[str] = Counter()
    expected[WORLD] = -sum(funded.values())
    expected[PSP_SETTLEMENT] = (
        sum(co.amount for co in completed)
        - sum(ci.amount for ci in cash_ins)
        - sum(back.amount for back in returns)
        + sum(r.amount for r in refunded)
    )
    expected[PSP_FEES] = sum(co.fee for co in completed) + sum(ci.fee for ci in cash_ins)
    holdings: Counter[str] = Counter(funded)
    for co in completed:
        holdings[client_account_code(co.client_id)] -= co.amount + co.fee
    for ci in cash_ins:
        holdings[client_account_code(ci.client_id)] += ci.amount - ci.fee
    for back in returns:
        holdings[client_account_code(back.client_id)] += back.amount
    for r in refunded:
        holdings[client_account_code(r.client_id)] -= r.amount
    for account, total in holdings.items():
        expected[account] = total
    # A client's blocked money is its own: counted in its account.
    owner = {blocked_account_code(c): client_account_code(c) for c in owners}
    actual: Counter[str] = Counter()
    for code, balance in balances.items():
        actual[owner.get(code, code)] += balance
    for code in sorted(set(expected) | set(actual)):
        if expected[code] != actual[code]:
            problems.append(f"{code} holds {actual[code]}, its records say {expected[code]}")
    return problems


def _refund_problems(
    refunds: Sequence[Row[Any]], steps: Sequence[Any], received: dict[str, Row[Any]]
) -> list[str]:
    """Each refund reserved its amount once (a pending transfer under its own id) and was
    resolved as its status says: posted once if COMPLETED, voided once if FAILED, not yet
    if PROCESSING. A payment's refunds not FAILED never add up to more than it, and a
    refund is its payment's client's."""
    problems: list[str] = []
    pending = {s.id: s for s in steps if s.kind == "pending"}
    resolutions: dict[str, list[str]] = defaultdict(list)
    for step in steps:
        if step.pending_id is not None:
            resolutions[step.pending_id].append(step.kind)
    held: Counter[str] = Counter()
    wanted: dict[str, list[str]] = {
        "PROCESSING": [],
        "COMPLETED": ["post_pending"],
        "FAILED": ["void_pending"],
    }
    for r in refunds:
        reserved = pending.pop(r.id, None)
        if reserved is None or (reserved.amount, reserved.ref) != (r.amount, r.end_to_end_id):
            problems.append(f"refund {r.id}: its reservation is {reserved}")
        if resolutions.pop(r.id, []) != wanted[r.status]:
            problems.append(f"refund {r.id} {r.status}: resolved {resolutions.get(r.id)}")
        payment = received.get(r.end_to_end_id)
        if payment is None or payment.client_id != r.client_id:
            problems.append(f"refund {r.id} of a payment not its client's: {payment}")
        if r.status != "FAILED":
            held[r.end_to_end_id] += r.amount
    problems += [f"cash_in_refund reservation {i} has no refund" for i in pending]
    problems += [f"cash_in_refund steps of no refund: {i}" for i in resolutions]
    for e2e, amount in held.items():
        payment = received.get(e2e)
        if payment is not None and amount > payment.amount:
            problems.append(f"payment {e2e} of {payment.amount}: {amount} refunded")
    return problems


def _med_block_problems(
    block: Row[Any], report: Row[Any] | None, held: Row[Any] | None
) -> list[str]:
    """A MED report's block: under an id derived from the report's, holding what the
    report says it blocked (never more than the Pix), in force exactly while the report
    is OPEN. A report that blocked something has its block."""
    if report is None or block.id != derived_id(report.id, "block"):
        return [f"MED block {block.id} of no report"]
    problems = []
    if (block.client_id, block.amount) != (report.client_id, report.blocked):
        problems.append(f"MED block {block.id} holds {block.amount}, its report {report.blocked}")
    if held is None or report.blocked > held.amount:
        problems.append(f"MED report {report.id} blocked {report.blocked} of {held}")
    if (block.released_at is None) != (report.status == "OPEN"):
        problems.append(f"MED block {block.id} released {block.released_at}, {report.status}")
    return problems


def _med_report_problems(
    reports: Sequence[Row[Any]],
    blocks: Sequence[Row[Any]],
    refunds: Sequence[Row[Any]],
    received: dict[str, Row[Any]],
) -> list[str]:
    """What ``_med_block_problems`` cannot see from the blocks: a report that blocked
    something and has no block, and the refund an accepted report made (FR01, reason
    FRAUD, only ever made by accepting a report)."""
    problems: list[str] = []
    block_ids = {b.id for b in blocks}
    by_id = {r.id: r for r in refunds}
    made = {report.refund_id for report in reports if report.refund_id is not None}
    for report in reports:
        payment = received.get(report.end_to_end_id)
        if payment is None or payment.client_id != report.client_id:
            problems.append(f"MED report {report.id} of a Pix not its client's: {payment}")
        if (derived_id(report.id, "block") in block_ids) != (report.blocked > 0):
            problems.append(f"MED report {report.id} blocked {report.blocked}: its block?")
        if report.refund_id is None:
            continue
        refund = by_id.get(report.refund_id)
        seen = (refund.reason, refund.end_to_end_id) if refund is not None else None
        if report.status != "ACCEPTED" or seen != ("FRAUD", report.end_to_end_id):
            problems.append(f"MED report {report.id} {report.status}: its refund is {seen}")
        elif refund is not None and not 0 < refund.amount <= report.blocked:
            problems.append(
                f"MED report {report.id} blocked {report.blocked}: refunds {refund.amount}"
            )
    problems += [
        f"FRAUD refund {r.id} of no accepted MED report"
        for r in refunds
        if r.reason == "FRAUD" and r.id not in made
    ]
    return problems
