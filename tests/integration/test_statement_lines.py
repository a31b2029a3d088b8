"""The statement's lines as the ledger writes them (docs/statement.md), on SQLite and
PostgreSQL: numbered per account with the available balance after, by the statements
``record`` always ran (one UPDATE per account, one INSERT for every transfer, however
many); a line's time never goes back; a second resolution still refused; and
migration 0021 numbering the transfers and charges written before it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, select

from connectpsp.adapters.storage import db as storage_db
from connectpsp.adapters.storage import ledger as storage_ledger
from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.migrate import alembic_config, upgrade
from connectpsp.adapters.storage.statement import SqlListings
from connectpsp.bootstrap import Container, build
from connectpsp.domain import ledger
from connectpsp.domain.cashin import Charge, ChargeStatus, ChargeType
from connectpsp.domain.errors import LedgerViolation
from connectpsp.domain.ids import new_id
from connectpsp.domain.ledger import PSP_SETTLEMENT, WORLD, client_account_code
from connectpsp.domain.listing import Filters
from connectpsp.settings import Settings
from tests.conftest import DATABASES
from tests.integration.test_ledger import new_client, reserve, resolve
from tests.invariants import ledger_problems
from tests.support import FakeClock, database


def lines_of(container: Container, account: str) -> list[tuple[int, int, str]]:
    """(number, balance after, kind) of an account's lines, in number order."""
    tr = t.transfers.c
    with container.uow() as uow:
        (account_id,) = uow.ledger._c.execute(  # type: ignore[attr-defined]
            select(t.accounts.c.id).where(t.accounts.c.code == account)
        ).one()
        rows = uow.ledger._c.execute(  # type: ignore[attr-defined]
            select(
                tr.debit_seq,
                tr.debit_after,
                tr.kind,
                tr.credit_seq,
                tr.credit_after,
                tr.debit_account_id,
                tr.created_at,
            ).where((tr.debit_account_id == account_id) | (tr.credit_account_id == account_id))
        ).all()
    found = []
    for r in rows:
        seq, after = (r[0], r[1]) if r.debit_account_id == account_id else (r[3], r[4])
        if seq is not None:
            found.append((seq, after, r.kind))
    return sorted(found)


def test_each_change_of_the_available_balance_is_a_numbered_line(container: Container) -> None:
    account = new_client(container, fund=1_000)
    held, _ = reserve(container, account, 300)
    voided, _ = reserve(container, account, 200)
    resolve(container, held, post=True)  # nothing available changes: no line
    resolve(container, voided, post=False)  # the 200 comes back
    assert lines_of(container, account) == [
        (1, 1_000, "single"),
        (2, 700, "pending"),
        (3, 500, "pending"),
        (4, 700, "void_pending"),
    ]
    assert ledger_problems(container.db) == []


def test_record_runs_the_same_statements_however_many_transfers(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One UPDATE (one row per account) and one INSERT of every transfer, as before the
    statement existed: lines cost no statement of their own."""
    accounts = [new_client(container, fund=1_000) for _ in range(3)]
    calls: list[tuple[str, int]] = []
    update, insert = storage_db.run_sql, storage_db.insert_rows

    def counted_update(conn: Any, sql: str, params: Any) -> Any:
        calls.append((sql.split()[0].lower(), len(params)))
        return update(conn, sql, params)

    def counted_insert(conn: Any, table: Any, rows: list[Any], **kw: Any) -> Any:
        calls.append((f"insert {table.name}", len(rows)))
        return insert(conn, table, rows, **kw)

    monkeypatch.setattr(storage_ledger, "run_sql", counted_update)
    monkeypatch.setattr(storage_ledger, "insert_rows", counted_insert)
    steps = [
        ledger.pending(new_id(), debit=a, credit=PSP_SETTLEMENT, amount=10, code="t", ref=None)
        for a in accounts
        for _ in range(4)
    ]
    with container.uow(write=True) as uow:
        uow.ledger.record(steps)
        uow.commit()
    assert calls == [("update", 3), ("insert transfers", 12)]
    assert [n for n, _, _ in lines_of(container, accounts[0])] == [1, 2, 3, 4, 5]
    assert storage_db.insert_rows is insert  # the module's own, untouched


def test_a_line_is_never_dated_before_the_one_it_follows(container: Container) -> None:
    account = new_client(container, fund=1_000)
    clock = container.clock
    assert isinstance(clock, FakeClock)
    clock.advance(seconds=-30)  # a writer whose clock lags (another process, say)
    reserve(container, account, 10)
    clock.advance(seconds=30)
    tr = t.transfers.c
    with container.db.transaction(write=False) as tx:
        times = [
            at
            for (at,) in tx.conn.execute(
                select(tr.created_at)
                .join(t.accounts, t.accounts.c.id == tr.debit_account_id)
                .where(t.accounts.c.code.in_([account]), tr.debit_seq.is_not(None))
            )
        ]
        (funded,) = tx.conn.execute(
            select(tr.created_at)
            .join(t.accounts, t.accounts.c.id == tr.credit_account_id)
            .where(t.accounts.c.code == account)
        ).one()
    assert times == [funded]  # moved up to the line before it, not 30 s back


def test_a_second_resolution_is_still_a_ledger_violation(container: Container) -> None:
    account = new_client(container, fund=1_000)
    held, _ = reserve(container, account, 400)
    resolve(container, held, post=True)
    with pytest.raises(LedgerViolation):
        resolve(container, held, post=False)
    assert lines_of(container, account)[-1] == (2, 600, "pending")


@pytest.fixture(params=DATABASES)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with database(request.param, tmp_path) as settings:
        yield settings


def test_migration_0021_numbers_what_came_before(fresh: Settings) -> None:
    """Movements and charges written at head, their numbers dropped (downgrade to 0020)
    and made again by 0021 from the rows' times: the same invariants hold."""
    clock = FakeClock()
    container = build(fresh, clock=clock)
    try:
        accounts = []
        for n in range(2):
            account = new_client(container, fund=1_000)
            accounts.append(account)
            held, _ = reserve(container, account, 100 + n)
            clock.advance(seconds=1)
            resolve(container, held, post=bool(n))
            client_id = account.split(":")[1]
            with container.uow(write=True) as uow:
                uow.charges.add([charge(client_id, clock.now()) for _ in range(3)])
                uow.commit()
            clock.advance(seconds=1)
        before = {a: lines_of(container, a) for a in accounts}
        downgrade(container.db, "0020")
        upgrade(container.db, schema=fresh.database_schema)
        assert {a: lines_of(container, a) for a in accounts} == before
        assert ledger_problems(container.db) == []
        with container.db.transaction(write=False) as tx:
            numbered = tx.conn.execute(
                select(t.charges.c.client_id, t.charges.c.seq).order_by(t.charges.c.seq)
            ).all()
            made = dict(tx.conn.execute(select(t.clients.c.id, t.clients.c.charges_made)).all())
        for client_id in {c for c, _ in numbered}:
            assert [s for c, s in numbered if c == client_id] == [1, 2, 3]
            assert made[client_id] == 3
        # And writing goes on from there.
        reserve(container, accounts[0], 5)
        assert ledger_problems(container.db) == []
        assert WORLD  # the funding came from outside
    finally:
        container.close()


def downgrade(db: Database, to: str) -> None:
    config = alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, to)


def charge(client_id: str, now: Any) -> Charge:
    ref = new_id()
    return Charge(
        id=ref,
        internal_code=new_id()[:10].upper().replace("-", "X"),
        client_id=client_id,
        txid=ref.replace("-", ""),
        external_reference=ref,
        type=ChargeType.STATIC,
        status=ChargeStatus.ACTIVE,
        amount=None,
        description=None,
        pix_key=f"{ref}@k.test",
        location_id=None,
        br_code="000201",
        expires_at=None,
        created_at=now,
        updated_at=now + timedelta(0),
    )


def test_a_page_is_one_snapshot_however_writers_interleave_with_it(container: Container) -> None:
    """A page reads the debit side and the credit side of the statement together: read
    apart, on PostgreSQL a debit committed between the two reads was missed while a
    later credit was seen, and the next page began past the debit for good."""
    creds = container.clients.create("one-snapshot")
    account = client_account_code(creds.client_id)
    container.clients.fund(creds.client_id, 1_000)  # line 1, a credit
    reserve(container, account, 10)  # line 2, a debit
    container.clients.fund(creds.client_id, 5)  # line 3
    store = SqlListings(container.db)
    first = store.movements(creds.client_id, Filters(), None, 3)
    armed = [True]

    def writers_commit(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        # During the next page's read: a debit (line 4), then a credit (line 5), each
        # committed on connections of their own.
        if armed[0] and "FROM transfers" in sql:
            armed[0] = False
            reserve(container, account, 10)
            container.clients.fund(creds.client_id, 5)

    event.listen(container.db.engine, "after_cursor_execute", writers_commit)
    try:
        second = store.movements(creds.client_id, Filters(), first[-1].position, 10)
    finally:
        event.remove(container.db.engine, "after_cursor_execute", writers_commit)
    assert not armed[0]  # the writers did commit in the middle of the page's read
    final = [m.position.seq for m in store.movements(creds.client_id, Filters(), None, 100)]
    assert final == [1, 2, 3, 4, 5]
    seen = [m.position.seq for m in first + second]
    assert seen == final[: len(seen)]
