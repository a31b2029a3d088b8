"""The risk decisions' SQL store on both databases: a batch's decisions and the payees its
accepted cash-outs paid for the first time, in one statement each, a payee paid before
left as it was."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows
from connectpsp.adapters.storage.risk import SqlRisk
from connectpsp.bootstrap import Container
from connectpsp.domain.risk import Check, Decision

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MARIA, ANA, JOAO = "12345678909", "98765432100", "52998224725"


def decision(client_id: str, payee: str, at: datetime, *, accepted: bool = True) -> Decision:
    return Decision(
        id=str(uuid.uuid4()),
        client_id=client_id,
        cash_out_id=str(uuid.uuid4()) if accepted else None,
        at=at,
        amount=1_00,
        payee=payee,
        code=None if accepted else "LIMIT_EXCEEDED",
        checks=(Check("fraud_markers", True, {"keyMarked": False}),),
    )


def first_paid(container: Container, client_id: str) -> dict[str, datetime]:
    p = t.client_payees.c
    with container.db.transaction(write=False) as tx:
        found = tx.conn.execute(
            select(p.payee, p.first_paid_at).where(p.client_id == client_id)
        ).all()
    return {row.payee: row.first_paid_at for row in found}


def test_a_batch_records_every_decision_and_only_new_payees_paid(container: Container) -> None:
    client = str(uuid.uuid4())
    later = T0 + timedelta(minutes=5)
    batches = [
        [
            decision(client, MARIA, T0),
            decision(client, MARIA, T0),
            decision(client, ANA, T0, accepted=False),
        ],
        [decision(client, MARIA, later), decision(client, JOAO, later)],
    ]
    for batch in batches:
        with container.db.transaction(write=True) as tx:
            SqlRisk(tx.conn).record(batch)
            tx.commit()
    # Maria keeps the moment she was first paid; Ana was refused, so never paid.
    assert first_paid(container, client) == {MARIA: T0, JOAO: later}
    with container.db.transaction(write=False) as tx:
        risk = SqlRisk(tx.conn)
        assert risk.paid([(client, MARIA), (client, ANA), (client, JOAO)]) == {
            (client, MARIA),
            (client, JOAO),
        }
        attempts = risk.attempts_since([client], T0 - timedelta(seconds=1))[client]
    assert [(a.at, a.accepted) for a in attempts] == [(T0, True)] * 2 + [(T0, False)] + [
        (later, True)
    ] * 2


def test_insert_rows_unless_taken_leaves_out_the_rows_whose_key_is_taken(
    container: Container,
) -> None:
    client = str(uuid.uuid4())

    def paid(payee: str, at: datetime) -> dict[str, object]:
        return {"client_id": client, "payee": payee, "first_paid_at": at}

    with container.db.transaction(write=True) as tx:
        insert_rows(
            tx.conn, t.client_payees, [paid(MARIA, T0)], unless_taken=("payee", "client_id")
        )
        insert_rows(
            tx.conn,
            t.client_payees,
            [paid(MARIA, T0 + timedelta(hours=1)), paid(ANA, T0 + timedelta(hours=1))],
            unless_taken=("payee", "client_id"),
        )
        tx.commit()
    assert first_paid(container, client) == {MARIA: T0, ANA: T0 + timedelta(hours=1)}
