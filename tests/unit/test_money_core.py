"""The money core's domain rules, in milliseconds: ledger steps and their invariants, the
book that checks them, the cash-out's decision and its life."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from connectpsp.domain import ledger
from connectpsp.domain.cashout import CashOutRequest, CashOutStatus, Creditor, Payee, PixDestination
from connectpsp.domain.cashout_acceptance import CashOutBook, decide, fee_transfer_id
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import (
    DuplicateExternalReference,
    IllegalTransition,
    InsufficientBalance,
    LedgerViolation,
    LimitExceeded,
)
from connectpsp.domain.ledger import (
    PSP_FEES,
    PSP_SETTLEMENT,
    WORLD,
    Balance,
    Book,
    FeePlan,
    TransferKind,
    client_account_code,
)
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.domain.spi import PIX_KEY_NOT_FOUND

NOW = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
ACCOUNT = "client:c1:available"


def funded(amount: int) -> Book:
    return Book({ACCOUNT: Balance(credits_posted=amount, debits_posted=0, debits_pending=0)})


def test_every_step_balances_and_moves_something() -> None:
    with pytest.raises(LedgerViolation):
        ledger.single("t", debit=WORLD, credit=ACCOUNT, amount=0, code="x", ref=None)
    with pytest.raises(LedgerViolation):
        ledger.pending("t", debit=ACCOUNT, credit=ACCOUNT, amount=5, code="x", ref=None)
    done = ledger.single("t", debit=WORLD, credit=ACCOUNT, amount=5, code="x", ref=None)
    with pytest.raises(LedgerViolation):  # only a pending transfer is posted or voided
        ledger.post(done, "t2")
    held = ledger.pending("p", debit=ACCOUNT, credit=PSP_SETTLEMENT, amount=5, code="x", ref="r")
    posted = ledger.post(held, "t3")
    assert (posted.kind, posted.pending_id, posted.amount, posted.ref) == (
        TransferKind.POST_PENDING,
        "p",
        5,
        "r",
    )
    assert ledger.void(held, "t4").kind is TransferKind.VOID_PENDING


def test_a_book_refuses_an_overdraft_and_changes_nothing() -> None:
    book = funded(10_00)
    amount = ledger.pending(
        "a", debit=ACCOUNT, credit=PSP_SETTLEMENT, amount=9_00, code="x", ref=None
    )
    fee = ledger.pending("f", debit=ACCOUNT, credit=PSP_FEES, amount=2_00, code="x", ref=None)
    with pytest.raises(InsufficientBalance):
        book.apply(amount, fee)  # together they are too much: neither is taken
    assert book.available(ACCOUNT) == 10_00
    book.apply(amount)
    assert book.available(ACCOUNT) == 1_00
    book.apply(ledger.void(amount, "v"))
    assert book.available(ACCOUNT) == 10_00
    with pytest.raises(LedgerViolation):  # a second void would release money never held
        book.apply(ledger.void(amount, "v2"))


def test_a_check_gives_the_balances_it_changes_and_changes_nothing_until_adopted() -> None:
    other = "client:c2:available"
    book = Book({ACCOUNT: Balance(10_00, 0, 0), other: Balance(5_00, 0, 0)})
    amount = ledger.pending(
        "a", debit=ACCOUNT, credit=PSP_SETTLEMENT, amount=6_00, code="x", ref=None
    )
    fee = ledger.pending("f", debit=ACCOUNT, credit=PSP_FEES, amount=1_00, code="x", ref=None)
    changed = book.check(amount, fee)
    # Only the account the steps touch, with both steps in it; the PSP's are not held.
    assert changed == {ACCOUNT: Balance(10_00, 0, 7_00)}
    assert book.available(ACCOUNT) == 10_00 and book.available(other) == 5_00
    book.adopt(changed)
    assert book.available(ACCOUNT) == 3_00 and book.available(other) == 5_00
    # Each kind of step, on each side: posted at once, held, posted and voided.
    fund = ledger.single("s", debit=WORLD, credit=other, amount=2_00, code="x", ref=None)
    book.apply(fund)
    assert book.balances[other] == Balance(7_00, 0, 0)
    book.apply(ledger.post(amount, "p"))
    assert book.balances[ACCOUNT] == Balance(10_00, 6_00, 1_00)
    book.apply(ledger.void(fee, "v"))
    assert book.balances[ACCOUNT] == Balance(10_00, 6_00, 0)
    with pytest.raises(InsufficientBalance):
        book.check(ledger.single("t", debit=other, credit=WORLD, amount=7_01, code="x", ref=None))


def test_a_pending_credit_is_not_available_until_posted() -> None:
    book = funded(0)
    incoming = ledger.pending(
        "in", debit=PSP_SETTLEMENT, credit=ACCOUNT, amount=7_00, code="x", ref=None
    )
    book.apply(incoming)
    assert book.balances[ACCOUNT].credits_pending == 7_00
    assert book.available(ACCOUNT) == 0
    book.apply(ledger.post(incoming, "p"))
    assert book.available(ACCOUNT) == 7_00 and book.balances[ACCOUNT].credits_pending == 0


CLIENT = Client(
    id="c1",
    name="c",
    fee_plan=FeePlan(fixed=1_00),
    per_transaction_limit=1_000_00,
    daily_limit=30_00,
    active=True,
    created_at=NOW,
    secret_hash="h",
    crypto_token_enc="e",
    app_token_hash="a",
    webhook_secret_enc="w",
)
PAYEE = Payee("Maria Silva", "12345678909", PixDestination(PixKeyType.CPF, "12345678909"))


def request(amount: int, reference: str = "r1") -> CashOutRequest:
    return CashOutRequest(amount, reference, None, None, PAYEE)


def cash_out_book(available: int) -> CashOutBook:
    account = client_account_code(CLIENT.id)
    return CashOutBook(Book({account: Balance(available, 0, 0)}), set(), {})


def test_a_cash_out_reserves_amount_and_fee() -> None:
    book = cash_out_book(21_00)
    accepted = decide(book, CLIENT, request(10_00), NOW)
    c = accepted.cash_out
    assert (c.status, c.amount, c.fee, c.requested_at) == (
        CashOutStatus.PROCESSING,
        10_00,
        1_00,
        NOW,
    )
    assert [(t.id, t.credit, t.amount, t.kind) for t in accepted.transfers] == [
        (c.id, PSP_SETTLEMENT, 10_00, TransferKind.PENDING),
        (fee_transfer_id(c.id), PSP_FEES, 1_00, TransferKind.PENDING),
    ]
    assert book.ledger.available(client_account_code(CLIENT.id)) == 10_00
    assert book.usage == {CLIENT.id: 10_00} and (CLIENT.id, "r1") in book.references


def test_refusals_come_in_order_and_change_nothing() -> None:
    book = cash_out_book(21_00)
    decide(book, CLIENT, request(10_00), NOW)
    before = (dict(book.ledger.balances), set(book.references), dict(book.usage))
    with pytest.raises(DuplicateExternalReference):  # before the balance is even looked at
        decide(book, CLIENT, request(1_000_00), NOW)
    with pytest.raises(InsufficientBalance):  # 10.00 + 1.00 fee leaves 10.00: short of 11.00
        decide(book, CLIENT, request(10_00, "r2"), NOW)
    with pytest.raises(LimitExceeded):  # 10.00 + 25.00 is past the 30.00 day
        decide(replace(book, ledger=funded_for_client(100_00)), CLIENT, request(25_00, "r3"), NOW)
    assert (dict(book.ledger.balances), set(book.references), dict(book.usage)) == before


def funded_for_client(amount: int) -> Book:
    return Book({client_account_code(CLIENT.id): Balance(amount, 0, 0)})


def test_a_cash_out_moves_once_through_its_life() -> None:
    c = decide(cash_out_book(21_00), CLIENT, request(10_00), NOW).cash_out
    creditor = Creditor("Maria Silva", "12345678909", "18236120", "0001", "1", AccountType.PAYMENT)
    sent = c.submit(creditor, NOW)
    assert sent.submitted_at == NOW and sent.creditor == creditor
    with pytest.raises(IllegalTransition):
        sent.submit(creditor, NOW)  # once
    done = sent.complete("E00416968202603101700abcdefghijk", NOW)
    assert done.status is CashOutStatus.COMPLETED and done.end_to_end_id is not None
    for move in (lambda: done.fail(PIX_KEY_NOT_FOUND), lambda: done.submit(creditor, NOW)):
        with pytest.raises(IllegalTransition):
            move()
    failed = c.fail(PIX_KEY_NOT_FOUND, "AC03")
    assert (failed.status, failed.failure, failed.spi_reason_code) == (
        CashOutStatus.FAILED,
        PIX_KEY_NOT_FOUND,
        "AC03",
    )
    with pytest.raises(IllegalTransition):
        failed.complete("E1", NOW)
