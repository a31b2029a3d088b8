"""The statements written by hand (``db.run_sql``) on both databases: a list bound with
``IN ({in})`` finds the same rows whatever its length and its text, and on PostgreSQL a
long one is one array, so that the statement's text does not change with the list's
length (psycopg parses again every statement of over fifty parameters, and the server
plans each new text). So is a batch of risk decisions of over fifty parameters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from connectpsp.adapters.storage.db import run_sql
from connectpsp.adapters.storage.risk import SqlRisk
from connectpsp.bootstrap import Container
from connectpsp.domain.risk import Check, Decision, Tally
from tests.statements import WatchStatements

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# Text that an array written as text would have to escape: quotes, backslashes, braces,
# commas, spaces, NULL spelt out, and letters outside ASCII.
AWKWARD = ['a"b', "back\\slash", "{braces}", "com,ma", " spaced ", "NULL", "ação", ""]


class Texts(WatchStatements):
    def __init__(self, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(container.db.engine, monkeypatch)
        self.texts: list[str] = []

    def seen(self, sql: str) -> None:
        self.texts.append(sql)


def test_a_list_finds_the_same_rows_whatever_its_length_and_its_text(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    stored = [f"{tag}-{n}" for n in range(120)] + [tag + text for text in AWKWARD]
    with container.db.transaction(write=True) as tx:
        run_sql(
            tx.conn,
            "INSERT INTO risk_totals (client_id, decided, accepted) VALUES (?, ?, ?)",
            [(client_id, n, n) for n, client_id in enumerate(stored)],
        )
        tx.commit()
    missing = [f"{tag}-missing-{n}" for n in range(200)]
    long = (stored[:60], stored + missing, stored[::2] + missing)
    with Texts(container, monkeypatch) as texts, container.db.transaction(write=False) as tx:
        for asked in (stored[:1], *long, missing[:3]):
            rows = run_sql(
                tx.conn,
                "SELECT client_id, decided FROM risk_totals WHERE client_id IN ({in})",
                (asked,),
            )
            assert sorted(rows) == sorted(
                (client_id, stored.index(client_id)) for client_id in asked if client_id in stored
            )
    if container.db.engine.dialect.name == "postgresql":
        # The long lists' statement is one text; the two short ones, each its own.
        reads = [sql for sql in texts.texts if sql.startswith("SELECT CLIENT_ID, DECIDED")]
        assert len(reads) == 5
        assert len(set(reads[1:4])) == 1, reads
        assert len(set(reads)) == 3, reads


def test_a_list_of_numbers_and_a_parameter_before_it_bind_alike(container: Container) -> None:
    tag = uuid.uuid4().hex[:8]
    with container.db.transaction(write=True) as tx:
        run_sql(
            tx.conn,
            "INSERT INTO risk_totals (client_id, decided, accepted) VALUES (?, ?, ?)",
            [(f"{tag}-{n}", n, 10**12 + n) for n in range(5)],
        )
        rows = run_sql(
            tx.conn,
            "SELECT client_id FROM risk_totals WHERE client_id LIKE ? AND decided IN ({in})",
            (f"{tag}-%", [1, 3, 2**40]),
        )
        many = run_sql(
            tx.conn,
            "SELECT client_id FROM risk_totals WHERE client_id LIKE ? AND decided IN ({in})",
            (f"{tag}-%", [1, 3, 2**40, *range(100, 200)]),
        )
    assert sorted(rows) == sorted(many) == [(f"{tag}-1",), (f"{tag}-3",)]


def test_a_batch_of_decisions_of_over_fifty_parameters_is_one_statement_text_on_postgresql(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    tallies: dict[str, Tally] = {}

    def decision(n: int) -> Decision:
        # Twenty clients, so that a batch is a row per client it holds.
        client_id, accepted = clients[n % len(clients)], n % 3 == 0
        before = tallies.get(client_id, Tally())
        sent = 1_00 if accepted else 0
        tally = tallies[client_id] = Tally(before.decided + 1, before.accepted + sent)
        return Decision(
            id=str(uuid.uuid4()),
            client_id=client_id,
            cash_out_id=str(uuid.uuid4()) if accepted else None,
            at=T0,
            amount=1_00,
            payee=AWKWARD[n % len(AWKWARD)][:14],
            code=None if accepted else "LIMIT_EXCEEDED",
            checks=(Check("fraud_markers", True, {"note": AWKWARD[n % len(AWKWARD)]}),),
            tally=tally,
        )

    clients = sorted(str(uuid.uuid4()) for _ in range(20))
    made = [decision(n) for n in range(1 + 17 + 300)]
    with Texts(container, monkeypatch) as texts:
        for batch in (made[:1], made[1:18], made[18:]):
            with container.db.transaction(write=True) as tx:
                SqlRisk(tx.conn).record(batch)
                tx.commit()
    with container.db.transaction(write=False) as tx:
        risk = SqlRisk(tx.conn)
        kept = [d for c in clients for d in risk.decisions(client_id=c, since=None, limit=1_000)]
    assert sorted(kept, key=lambda d: d.id) == sorted(made, key=lambda d: d.id)
    if container.db.engine.dialect.name == "postgresql":
        # One row: parameters of its own; 17 rows and 20: the one text of arrays.
        records = [sql for sql in texts.texts if "INSERT INTO RISK_DECISIONS" in sql]
        assert len(records) == 3
        assert records[1] == records[2] != records[0], records
