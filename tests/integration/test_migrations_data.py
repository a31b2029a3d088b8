"""The migrations that change data, on both databases: 0012 gives the risk decisions
recorded before it the running tallies they would have been recorded with, and each
client its last; 0013 gives SQLite's whole-second times their microseconds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import bindparam, select, text

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.migrate import upgrade
from connectpsp.adapters.storage.risk import SqlRisk
from connectpsp.domain.risk import Tally
from connectpsp.settings import Settings
from tests.conftest import DATABASES
from tests.support import database

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=DATABASES)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A database with no schema, per test: each migrates it to where it starts."""
    with database(request.param, tmp_path) as settings:
        yield settings


def test_decisions_made_before_the_tallies_get_theirs(fresh: Settings) -> None:
    db = Database(fresh.database_url, schema=fresh.database_schema)
    upgrade(db, schema=fresh.database_schema, to="0011")
    insert = text(
        "INSERT INTO risk_decisions (id, client_id, cash_out_id, at, amount, payee, code,"
        " checks) VALUES (:id, :client, NULL, :at, :amount, '12345678909', :code, '[]')"
    ).bindparams(bindparam("at", type_=t.TZ))
    # Listed out of time order, with two at one time (their ids break the tie).
    rows = [
        ("d3", "a", T0 + timedelta(seconds=2), 5_00, None),
        ("d1", "a", T0, 1_00, None),
        ("d2", "a", T0, 2_00, "LIMIT_EXCEEDED"),
        ("d4", "a", T0 + timedelta(seconds=2), 7_00, None),
        ("e1", "b", T0 + timedelta(seconds=1), 9_00, None),
    ]
    with db.engine.begin() as conn:
        for id_, client, at, amount, code in rows:
            conn.execute(
                insert, {"id": id_, "client": client, "at": at, "amount": amount, "code": code}
            )
    upgrade(db, schema=fresh.database_schema)
    with db.transaction(write=False) as tx:
        found = {
            r.id: Tally(r.decided_total, r.accepted_total)
            for r in tx.conn.execute(
                text("SELECT id, decided_total, accepted_total FROM risk_decisions")
            )
        }
        risk = SqlRisk(tx.conn)
        assert risk.tallies(["a", "b", "c"], [("a", T0 + timedelta(seconds=2))]) == (
            {"a": Tally(4, 13_00), "b": Tally(1, 9_00)},
            {("a", T0 + timedelta(seconds=2)): Tally(2, 1_00)},
        )
    assert found == {
        "d1": Tally(1, 1_00),
        "d2": Tally(2, 1_00),
        "d3": Tally(3, 6_00),
        "d4": Tally(4, 13_00),
        "e1": Tally(1, 9_00),
    }
    db.dispose()


def test_whole_second_times_on_sqlite_sort_with_the_moment_they_are(
    fresh: Settings,
) -> None:
    db = Database(fresh.database_url, schema=fresh.database_schema)
    upgrade(db, schema=fresh.database_schema, to="0012")
    with db.engine.begin() as conn:
        if db.is_sqlite:  # as a batch insert wrote it before 0013
            conn.execute(
                text(
                    "INSERT INTO client_payees (client_id, payee, first_paid_at)"
                    " VALUES ('a', '12345678909', '2026-12-01 12:00:00')"
                )
            )
        else:  # PostgreSQL keeps a timestamp: nothing to mend
            conn.execute(
                text(
                    "INSERT INTO client_payees (client_id, payee, first_paid_at)"
                    " VALUES ('a', '12345678909', :at)"
                ).bindparams(bindparam("at", type_=t.TZ)),
                {"at": T0},
            )
    upgrade(db, schema=fresh.database_schema)
    p = t.client_payees.c
    with db.transaction(write=False) as tx:
        assert tx.conn.execute(select(p.first_paid_at).where(p.first_paid_at >= T0)).all() == [
            (T0,)
        ]
    db.dispose()
