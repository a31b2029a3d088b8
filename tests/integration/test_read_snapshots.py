"""Reads whose parts must add up, on both databases, with a writer committing between
their statements (an ``after_cursor_execute`` listener commits it): on PostgreSQL, under
READ COMMITTED, each statement of a transaction saw its own snapshot, so a page could
mix what was before a commit with what was after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from connectpsp.adapters.storage import db as storage_db
from connectpsp.bootstrap import Container
from connectpsp.domain.cashin_search import CashInQuery
from connectpsp.domain.ids import new_id
from connectpsp.domain.ledger import (
    PSP_SETTLEMENT,
    FeePlan,
    Transfer,
    client_account_code,
    pending,
    post,
)
from connectpsp.domain.pix import PixKeyType


@contextmanager
def committing_during(
    container: Container, when: Callable[[str], bool], write: Callable[[], Any]
) -> Iterator[list[bool]]:
    """``write`` runs, and commits on a connection of its own, right after the first
    statement that ``when`` picks, whether run through SQLAlchemy or by hand
    (``db.run_sql``); the list holds whether it has yet to."""
    armed = [True]

    def after(sql: str) -> None:
        if armed[0] and when(sql):
            armed[0] = False
            write()

    def listener(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        after(sql)

    by_hand = storage_db._on_cursor

    def on_cursor(conn: Any, sql: str, params: Any, *, many: bool) -> list[tuple[Any, ...]]:
        rows = by_hand(conn, sql, params, many=many)
        after(sql)
        return rows

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(storage_db, "_on_cursor", on_cursor)
        event.listen(container.db.engine, "after_cursor_execute", listener)
        try:
            yield armed
        finally:
            event.remove(container.db.engine, "after_cursor_execute", listener)


def paid(container: Container, name: str, amount: int) -> tuple[str, str]:
    """A client paid ``amount`` by Pix: its id and the payment's endToEndId."""
    creds = container.clients.create(
        name, cash_in_fee_plan=FeePlan(fixed=0), document="86288366757"
    )
    client = container.clients.get(creds.client_id)
    key = container.pix_keys.register(client, PixKeyType.EVP, None, "test").key
    return creds.client_id, container.sandbox_payer.pay(pix_key=key, amount=amount)


def test_the_balance_adds_up_while_a_block_commits(container: Container) -> None:
    client_id, e2e = paid(container, "balance-snapshot", 10_00)
    accounts_read = lambda sql: "credits_posted" in sql and "FROM accounts" in sql  # noqa: E731
    # An infraction reported on the payment blocks its 10.00: available to blocked.
    block = lambda: container.infractions.report(e2e)  # noqa: E731
    with committing_during(container, accounts_read, block) as armed:
        balance, blocked = container.clients.holdings(client_id)
    assert not armed[0]
    # Read apart, the total held the 10.00 twice: available before, blocked after.
    assert (balance.available, blocked) in ((10_00, 0), (0, 10_00))
    assert balance.total + blocked == 10_00
    assert container.clients.holdings(client_id)[1] == 10_00


def test_a_console_cash_in_row_is_read_as_of_one_moment(container: Container) -> None:
    _, e2e = paid(container, "console-snapshot", 10_00)
    report = container.infractions.report(e2e)
    (before,) = container.cash_in_reads.search(CashInQuery(end_to_end_id=e2e), None, 10)
    assert (before.refunded, before.blocked) == (0, 10_00)
    refunds_read = lambda sql: "FROM cash_in_refunds" in sql  # noqa: E731
    # Accepting the report releases the block and refunds the 10.00 (FR01) in one commit.
    accept = lambda: container.infractions.accept(report.id, by="ana@example.com")  # noqa: E731
    with committing_during(container, refunds_read, accept) as armed:
        (row,) = container.cash_in_reads.search(CashInQuery(end_to_end_id=e2e), None, 10)
    assert not armed[0]
    # Before the accept (blocked) or after it (refunded), never neither.
    assert (row.refunded, row.blocked) in ((0, 10_00), (10_00, 0))


def test_a_balance_summed_from_transfers_adds_up_while_a_post_commits(
    container: Container,
) -> None:
    """The PSP's own accounts keep no totals: their balance is summed from transfers (as
    audits recompute every account's). A post committed mid-read moved the 10.00 from
    pending to posted; read apart, the sums lost it."""
    creds = container.clients.create("summed-snapshot")
    container.clients.fund(creds.client_id, 10_00)
    reserved = pending(
        new_id(),
        debit=client_account_code(creds.client_id),
        credit=PSP_SETTLEMENT,
        amount=10_00,
        code="cash_out",
        ref=None,
    )

    def record(transfer: Transfer) -> None:
        with container.uow(write=True) as uow:
            uow.ledger.record([transfer])
            uow.commit()

    record(reserved)
    with container.uow() as uow:
        before = uow.ledger.balance(PSP_SETTLEMENT)
    sums_read = lambda sql: "sum(" in sql.lower() and "FROM transfers" in sql  # noqa: E731
    posting = lambda: record(post(reserved, new_id()))  # noqa: E731
    with committing_during(container, sums_read, posting) as armed, container.uow() as uow:
        during = uow.ledger.balance(PSP_SETTLEMENT)
    assert not armed[0]
    # As of before the post, or after it: never the 10.00 in neither.
    moved = (before.credits_pending, before.credits_posted)
    assert (during.credits_pending, during.credits_posted) in (
        moved,
        (moved[0] - 10_00, moved[1] + 10_00),
    )
    with container.uow() as uow:
        after = uow.ledger.balance(PSP_SETTLEMENT)
    assert (after.credits_pending, after.credits_posted) == (moved[0] - 10_00, moved[1] + 10_00)
