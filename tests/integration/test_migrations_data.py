"""The migrations that change data, on both databases: 0012 gives the risk decisions
recorded before it the running tallies they would have been recorded with, and each
client its last; 0013 gives SQLite's whole-second times their microseconds; 0026 keeps
each decision as a row of one in the new form, and its downgrade splits a row of many
back into rows of one; 0027's downgrade writes packed checks whole again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import bindparam, select, text

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.migrate import alembic_config, upgrade
from connectpsp.adapters.storage.risk import SqlRisk
from connectpsp.domain.risk import (
    Check,
    Decision,
    RiskHistory,
    Screening,
    Tally,
    screen,
)
from connectpsp.settings import Settings
from tests.conftest import DATABASES
from tests.fakes import EVERY_RULE
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


def test_decisions_kept_one_per_row_read_back_the_same_in_rows_by_moment(
    fresh: Settings,
) -> None:
    db = Database(fresh.database_url, schema=fresh.database_schema)
    upgrade(db, schema=fresh.database_schema, to="0025")
    later = T0 + timedelta(seconds=1)
    marked = Check("fraud_markers", False, {"keyMarked": True, "ownerMarked": False})
    velocity = Check("max_cash_outs_per_minute", True, {"limit": 5, "inLastMinute": 0})
    kept = [
        Decision("d1", "a", "co1", T0, 1_00, "12345678909", None, (velocity,), Tally(1, 1_00)),
        Decision("d2", "a", None, T0, 2_00, "98765432100", "FRAUD_SUSPECTED", (marked,), Tally(2, 1_00)),
        Decision("d3", "a", "co3", later, 5_00, "12345678909", None, (), Tally(3, 6_00)),
        Decision("e1", "b", "co4", T0, 9_00, "52998224725", None, (velocity,), Tally(1, 9_00)),
    ]  # fmt: skip
    insert = text(
        "INSERT INTO risk_decisions (id, client_id, cash_out_id, at, amount, payee, code,"
        " checks, decided_total, accepted_total) VALUES (:id, :client_id, :cash_out_id, :at,"
        " :amount, :payee, :code, :checks, :decided, :accepted)"
    ).bindparams(bindparam("at", type_=t.TZ))
    with db.engine.begin() as conn:
        for d in kept:
            checks = json.dumps([c.as_record() for c in d.checks])
            row = {**vars(d), "checks": checks, "decided": d.tally.decided}
            conn.execute(insert, {**row, "accepted": d.tally.accepted})
    upgrade(db, schema=fresh.database_schema)
    with db.transaction(write=False) as tx:
        risk = SqlRisk(tx.conn)
        # Newest first; at one moment by client, each client's latest first.
        assert risk.decisions(client_id=None, since=None, limit=10) == [
            kept[2], kept[1], kept[0], kept[3]
        ]  # fmt: skip
        assert risk.tallies(["a"], [("a", later)]) == ({}, {("a", later): Tally(2, 1_00)})
    db.dispose()


def test_the_downgrade_splits_a_row_of_many_decisions_into_rows_of_one(fresh: Settings) -> None:
    db = Database(fresh.database_url, schema=fresh.database_schema)
    upgrade(db, schema=fresh.database_schema)
    velocity = Check("max_cash_outs_per_minute", True, {"limit": 5, "inLastMinute": 0})
    batch = [
        Decision("d1", "a", "co1", T0, 1_00, "12345678909", None, (velocity,), Tally(1, 1_00)),
        Decision("e1", "b", None, T0, 9_00, "52998224725", "LIMIT_EXCEEDED", (), Tally(1, 0)),
        Decision("d2", "a", None, T0, 2_00, "98765432100", "LIMIT_EXCEEDED", (), Tally(2, 1_00)),
        Decision("d3", "a", "co3", T0, 5_00, "12345678909", None, (), Tally(3, 6_00)),
    ]  # fmt: skip
    with db.transaction(write=True) as tx:
        SqlRisk(tx.conn).record(batch)
        tx.commit()
    with db.engine.begin() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM risk_decisions")).scalar() == 2
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0025")
    with db.engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT id, client_id, cash_out_id, amount, payee, code, checks,"
                " decided_total, accepted_total FROM risk_decisions ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("d1", "a", "co1", 1_00, "12345678909", None, json.dumps([velocity.as_record()], separators=(",", ":")), 1, 1_00),
        ("d2", "a", None, 2_00, "98765432100", "LIMIT_EXCEEDED", "[]", 2, 1_00),
        ("d3", "a", "co3", 5_00, "12345678909", None, "[]", 3, 6_00),
        ("e1", "b", None, 9_00, "52998224725", "LIMIT_EXCEEDED", "[]", 1, 0),
    ]  # fmt: skip
    upgrade(db, schema=fresh.database_schema)  # and back: each a row of one
    with db.transaction(write=False) as tx:
        found = SqlRisk(tx.conn).decisions(client_id=None, since=None, limit=10)
    assert found == [batch[3], batch[2], batch[0], batch[1]]
    db.dispose()


def test_packed_checks_are_written_whole_again_on_the_way_down(fresh: Settings) -> None:
    db = Database(fresh.database_url, schema=fresh.database_schema)
    upgrade(db, schema=fresh.database_schema)
    every = tuple(
        screen(EVERY_RULE, RiskHistory(), Screening(key_marked=True), "12345678909", 1_00, T0)
    )
    other = Check("external_engine", False, {"score": 97})  # no packed form: kept whole
    batch = [
        Decision("d1", "a", None, T0, 1_00, "12345678909", "FRAUD_SUSPECTED", every, Tally(1, 0)),
        Decision("d2", "a", None, T0, 2_00, "98765432100", "FRAUD_SUSPECTED", (other,), Tally(2, 0)),
    ]  # fmt: skip
    with db.transaction(write=True) as tx:
        SqlRisk(tx.conn).record(batch)
        tx.commit()
    with db.engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0026")
    with db.engine.begin() as conn:
        [document] = conn.execute(text("SELECT decisions FROM risk_decisions")).scalars()
    # As the code before 0027 wrote and reads them: every check whole.
    assert [entry["checks"] for entry in json.loads(document)] == [
        [c.as_record() for c in every],
        [other.as_record()],
    ]
    upgrade(db, schema=fresh.database_schema)  # and back: whole checks read as they were
    with db.transaction(write=False) as tx:
        found = SqlRisk(tx.conn).decisions(client_id=None, since=None, limit=10)
    assert found == batch[::-1]
    db.dispose()
