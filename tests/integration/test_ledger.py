"""Worked examples of the ledger, on SQLite and PostgreSQL: fund, reserve, post, void,
fee; and the rules the database enforces on its own."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from connectpsp.bootstrap import Container
from connectpsp.domain import ledger
from connectpsp.domain.errors import InsufficientBalance, LedgerViolation
from connectpsp.domain.ids import new_id
from connectpsp.domain.ledger import (
    PSP_FEES,
    PSP_SETTLEMENT,
    WORLD,
    Balance,
    Book,
    client_account_code,
)
from tests.invariants import ledger_problems


def new_client(container: Container, fund: int = 0) -> str:
    creds = container.clients.create("ledger-test")
    if fund:
        container.clients.fund(creds.client_id, fund)
    return client_account_code(creds.client_id)


def reserve(
    container: Container,
    account: str,
    amount: int,
    credit: str = PSP_SETTLEMENT,
    transfer_id: str | None = None,
) -> tuple[str, bool]:
    """A pending transfer as a use case makes one: checked against the locked balance
    by a ``Book`` first, then recorded; False (nothing written) if it does not fit."""
    transfer_id = transfer_id or new_id()
    step = ledger.pending(
        transfer_id, debit=account, credit=credit, amount=amount, code="test", ref=None
    )
    with container.uow(write=True) as uow:
        book = Book(uow.ledger.lock_balances([account]))
        try:
            book.apply(step)
        except InsufficientBalance:
            return transfer_id, False
        uow.ledger.record([step])
        uow.commit()
    return transfer_id, True


def resolve(container: Container, pending_id: str, *, post: bool) -> None:
    with container.uow(write=True) as uow:
        reserved = uow.ledger.pending([pending_id])[pending_id]
        uow.ledger.record([(ledger.post if post else ledger.void)(reserved, new_id())])
        uow.commit()


def balances(container: Container, *codes: str) -> list[Balance]:
    with container.uow() as uow:
        return [uow.ledger.balance(c) for c in codes]


def summed(container: Container, code: str) -> Balance:
    with container.uow() as uow:
        return uow.ledger.summed_balance(code)


def test_fund_reserve_post(container: Container) -> None:
    account = new_client(container, fund=10_000)
    settlement_before = summed(container, PSP_SETTLEMENT)
    (b,) = balances(container, account)
    assert (b.available, b.reserved, b.total) == (10_000, 0, 10_000)

    pending, ok = reserve(container, account, 3_000)
    assert ok
    (b,) = balances(container, account)
    assert (b.available, b.reserved, b.total) == (7_000, 3_000, 10_000)

    resolve(container, pending, post=True)
    (b,) = balances(container, account)
    assert (b.available, b.reserved, b.total) == (7_000, 0, 7_000)
    settlement = summed(container, PSP_SETTLEMENT)
    assert settlement.credits_posted - settlement_before.credits_posted == 3_000
    assert summed(container, account) == balances(container, account)[0]


def test_reserve_void_returns_the_funds(container: Container) -> None:
    account = new_client(container, fund=5_000)
    pending, _ = reserve(container, account, 5_000)
    assert balances(container, account)[0].available == 0
    resolve(container, pending, post=False)
    (b,) = balances(container, account)
    assert (b.available, b.reserved, b.total) == (5_000, 0, 5_000)
    assert summed(container, account) == b


def test_fee_goes_to_the_fee_account(container: Container) -> None:
    account = new_client(container, fund=1_000)
    fees_before = summed(container, PSP_FEES).credits_posted
    amount_id, _ = reserve(container, account, 30)
    fee_id, _ = reserve(container, account, 1, credit=PSP_FEES)
    assert balances(container, account)[0].available == 969
    resolve(container, amount_id, post=True)
    resolve(container, fee_id, post=True)
    assert summed(container, PSP_FEES).credits_posted - fees_before == 1
    assert balances(container, account)[0].total == 969


def test_insufficient_funds_write_nothing(container: Container) -> None:
    account = new_client(container, fund=1_000)
    transfer_id, ok = reserve(container, account, 1_001)
    assert not ok
    assert balances(container, account)[0].available == 1_000
    with container.db.transaction(write=False) as tx:
        row = tx.conn.execute(
            text("SELECT count(*) FROM transfers WHERE id = :id"), {"id": transfer_id}
        ).scalar_one()
    assert row == 0


def test_a_pending_transfer_resolves_once(container: Container) -> None:
    account = new_client(container, fund=1_000)
    pending, _ = reserve(container, account, 400)
    resolve(container, pending, post=True)
    with pytest.raises(LedgerViolation):
        resolve(container, pending, post=False)
    with pytest.raises(LedgerViolation):
        resolve(container, pending, post=True)
    assert balances(container, account)[0].total == 600


def test_the_database_refuses_an_overdraft_even_if_code_does_not(container: Container) -> None:
    account = new_client(container, fund=1_000)
    with pytest.raises(exc.IntegrityError), container.db.transaction(write=True) as tx:
        tx.conn.execute(
            text("UPDATE accounts SET debits_pending = 1001 WHERE code = :c"), {"c": account}
        )
    assert balances(container, account)[0].available == 1_000


def test_the_database_refuses_unbalanced_or_odd_transfers(container: Container) -> None:
    account = new_client(container)
    with container.db.transaction(write=False) as tx:
        ids: dict[str, int] = dict(
            tx.conn.execute(
                text("SELECT code, id FROM accounts WHERE code IN (:a, :w)"),
                {"a": account, "w": WORLD},
            ).all()
        )
    bad_rows = [
        {"amount": 0, "kind": "single", "pending": None, "debit": ids[WORLD]},
        {"amount": 5, "kind": "single", "pending": None, "debit": ids[account]},  # same account
        {"amount": 5, "kind": "post_pending", "pending": None, "debit": ids[WORLD]},
        {"amount": 5, "kind": "refund", "pending": None, "debit": ids[WORLD]},
    ]
    for row in bad_rows:
        with pytest.raises(exc.IntegrityError), container.db.transaction(write=True) as tx:
            tx.conn.execute(
                text(
                    "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount,"
                    " kind, pending_id, code, created_at) VALUES (:id, :debit, :credit,"
                    " :amount, :kind, :pending, 'test', CURRENT_TIMESTAMP)"
                ),
                {"id": new_id(), "credit": ids[account], **row},
            )


def test_whole_ledger_sums_to_zero(container: Container) -> None:
    account = new_client(container, fund=2_000)
    p1, _ = reserve(container, account, 500)
    p2, _ = reserve(container, account, 700)
    resolve(container, p1, post=True)
    resolve(container, p2, post=False)
    with container.uow() as uow:
        codes = uow.ledger.account_codes()
        totals = [uow.ledger.summed_balance(c) for c in codes]
        for code in codes:
            if code.startswith("client:"):
                assert uow.ledger.balance(code) == uow.ledger.summed_balance(code)
    assert sum(b.credits_posted - b.debits_posted for b in totals) == 0
    assert all(
        b.available >= 0 for c, b in zip(codes, totals, strict=True) if c.startswith("client:")
    )


def test_the_invariant_checker_sees_a_running_total_that_lies(container: Container) -> None:
    """``tests/invariants.ledger_problems``, which the reliability suite trusts, finds a
    balance whose running totals disagree with its transfers."""
    account = new_client(container, fund=2_000)
    posted, _ = reserve(container, account, 500)
    voided, _ = reserve(container, account, 300)
    reserve(container, account, 200)
    resolve(container, posted, post=True)
    resolve(container, voided, post=False)
    assert ledger_problems(container.db) == []

    def shift_pending(by: int) -> None:
        with container.db.transaction(write=True) as tx:
            tx.conn.execute(
                text("UPDATE accounts SET debits_pending = debits_pending + :by WHERE code = :c"),
                {"by": by, "c": account},
            )
            tx.commit()

    shift_pending(300)  # as if the void had not given the funds back
    try:
        assert ledger_problems(container.db) == [
            f"{account}: totals (2000, 500, 500, 0) != transfers (2000, 500, 200, 0)"
        ]
    finally:
        shift_pending(-300)
    assert ledger_problems(container.db) == []
