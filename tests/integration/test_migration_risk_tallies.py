"""Migration 0012 on both databases: the risk decisions recorded before it get the
running tallies they would have been recorded with, and each client its last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, text

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.migrate import upgrade
from connectpsp.adapters.storage.risk import SqlRisk
from connectpsp.domain.risk import Tally
from connectpsp.settings import Settings

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_decisions_made_before_the_tallies_get_theirs(db_settings: Settings) -> None:
    db = Database(db_settings.database_url, schema=db_settings.database_schema)
    upgrade(db, schema=db_settings.database_schema, to="0011")
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
    upgrade(db, schema=db_settings.database_schema)
    with db.transaction(write=False) as tx:
        found = {
            r.id: Tally(r.decided_total, r.accepted_total)
            for r in tx.conn.execute(
                text("SELECT id, decided_total, accepted_total FROM risk_decisions")
            )
        }
        risk = SqlRisk(tx.conn)
        assert risk.tallies(["a", "b", "c"]) == {"a": Tally(4, 13_00), "b": Tally(1, 9_00)}
        assert risk.tallies_before([("a", T0 + timedelta(seconds=2))]) == {
            ("a", T0 + timedelta(seconds=2)): Tally(2, 1_00)
        }
    assert found == {
        "d1": Tally(1, 1_00),
        "d2": Tally(2, 1_00),
        "d3": Tally(3, 6_00),
        "d4": Tally(4, 13_00),
        "e1": Tally(1, 9_00),
    }
    db.dispose()
