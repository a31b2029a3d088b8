"""The risk decisions' SQL store on both databases: a batch's decisions and the payees its
accepted cash-outs paid for the first time, in one statement each, a payee paid before
left as it was."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows
from connectpsp.adapters.storage.risk import SqlRisk
from connectpsp.bootstrap import Container
from connectpsp.domain.risk import (
    TICK,
    Attempt,
    Check,
    Decision,
    RiskHistory,
    Screening,
    Tally,
    screen,
)
from tests.fakes import EVERY_RULE

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MARIA, ANA, JOAO = "12345678909", "98765432100", "52998224725"


class Teller:
    """Decisions for clients, each with the client's running tally, as a batch makes them."""

    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = {}

    def decision(
        self,
        client_id: str,
        payee: str,
        at: datetime,
        *,
        accepted: bool = True,
        amount: int = 1_00,
    ) -> Decision:
        tally = self.tallies.get(client_id, Tally()).after(Attempt(at, amount, accepted))
        self.tallies[client_id] = tally
        return Decision(
            id=str(uuid.uuid4()),
            client_id=client_id,
            cash_out_id=str(uuid.uuid4()) if accepted else None,
            at=at,
            amount=amount,
            payee=payee,
            code=None if accepted else "LIMIT_EXCEEDED",
            checks=(Check("fraud_markers", True, {"keyMarked": False}),),
            tally=tally,
        )


def record(container: Container, batches: list[list[Decision]]) -> None:
    for batch in batches:
        with container.db.transaction(write=True) as tx:
            SqlRisk(tx.conn).record(batch)
            tx.commit()


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
    teller = Teller()
    decision = teller.decision
    record(
        container,
        [
            [
                decision(client, MARIA, T0),
                decision(client, MARIA, T0),
                decision(client, ANA, T0, accepted=False),
            ],
            [decision(client, MARIA, later), decision(client, JOAO, later)],
        ],
    )
    # Maria keeps the moment she was first paid; Ana was refused, so never paid.
    assert first_paid(container, client) == {MARIA: T0, JOAO: later}
    with container.db.transaction(write=False) as tx:
        risk = SqlRisk(tx.conn)
        assert risk.paid([(client, MARIA), (client, ANA), (client, JOAO)]) == {
            (client, MARIA),
            (client, JOAO),
        }
        points = [(client, T0), (client, later), (client, later + TICK), ("nobody", later)]
        assert risk.tallies([client, "nobody"], points) == (
            {client: Tally(5, 4_00)},
            {
                (client, T0): Tally(),
                (client, later): Tally(3, 2_00),
                (client, later + TICK): Tally(5, 4_00),
                ("nobody", later): Tally(),
            },
        )
        assert risk.tallies([client], []) == ({client: Tally(5, 4_00)}, {})
        assert risk.tallies([], points[:1]) == ({}, {(client, T0): Tally()})
        assert risk.tallies([], []) == ({}, {})


def test_a_tally_before_any_moment_is_what_a_scan_of_the_decisions_counts(
    container: Container,
) -> None:
    # Three clients deciding in batches at whole seconds, so that many decisions share a
    # time and every edge is hit; read back at every second around them, in one call.
    rng = random.Random(12)
    clients = [str(uuid.uuid4()) for _ in range(3)]
    teller = Teller()
    decided: list[Decision] = []
    for second in sorted(rng.randrange(120) for _ in range(40)):
        at = T0 + timedelta(seconds=second)
        batch = [
            teller.decision(
                rng.choice(clients),
                MARIA,
                at,
                accepted=rng.random() < 0.7,
                amount=rng.randrange(1, 500_00),
            )
            for _ in range(rng.randrange(1, 6))
        ]
        record(container, [batch])
        decided += batch
    points = [(c, T0 + timedelta(seconds=s)) for c in clients for s in range(-1, 122)]
    with container.db.transaction(write=False) as tx:
        risk = SqlRisk(tx.conn)
        stored, found = risk.tallies(clients, points)
        assert stored == {c: teller.tallies[c] for c in clients if c in teller.tallies}
    for client_id, moment in points:
        earlier = [d for d in decided if d.client_id == client_id and d.at < moment]
        assert found[(client_id, moment)] == Tally(
            len(earlier), sum(d.amount for d in earlier if d.accepted)
        ), (client_id, moment)


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


def test_a_batch_insert_on_a_whole_second_is_found_from_that_second(container: Container) -> None:
    # SQLite keeps times as text: written without ".000000", a whole second sorted before
    # the same moment as a query binds it, and dropped out of ">= moment".
    client = str(uuid.uuid4())
    with container.db.transaction(write=True) as tx:
        insert_rows(
            tx.conn, t.client_payees, [{"client_id": client, "payee": MARIA, "first_paid_at": T0}]
        )
        tx.commit()
    p = t.client_payees.c
    with container.db.transaction(write=False) as tx:
        mine = p.client_id == client
        assert tx.conn.execute(select(p.payee).where(mine, p.first_paid_at >= T0)).all() == [
            (MARIA,)
        ]
        assert tx.conn.execute(select(p.payee).where(mine, p.first_paid_at < T0)).all() == []


def test_batches_of_any_size_are_recorded_whole_and_read_back_as_made(
    container: Container,
) -> None:
    # A refused-only batch (no payee paid: PostgreSQL's statement gets empty arrays), two
    # clients in one batch, and a batch of over a thousand decisions: each kept whole.
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    teller = Teller()
    refused = [teller.decision(one, ANA, T0, accepted=False)]
    mixed = [teller.decision(c, MARIA, T0 + TICK) for c in (one, two, one)]
    big = [teller.decision(two, JOAO, T0 + timedelta(seconds=1)) for _ in range(1_001)]
    record(container, [refused, mixed, big])
    with container.db.transaction(write=False) as tx:
        risk = SqlRisk(tx.conn)
        assert risk.tallies([one, two], [])[0] == {
            one: Tally(3, 2_00),
            two: Tally(1_002, 1_002_00),
        }
        kept = risk.decisions(client_id=None, since=T0, limit=5_000)
        assert risk.decisions(client_id=None, since=T0 + timedelta(seconds=1), limit=5_000)
    mine = sorted((d for d in kept if d.client_id in (one, two)), key=lambda d: d.id)
    assert mine == sorted(refused + mixed + big, key=lambda d: d.id)
    assert first_paid(container, one) == {MARIA: T0 + TICK}
    assert first_paid(container, two) == {MARIA: T0 + TICK, JOAO: T0 + timedelta(seconds=1)}


def test_a_clients_decisions_at_one_moment_are_one_row_listed_newest_first(
    container: Container,
) -> None:
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    teller = Teller()
    at = T0 + timedelta(hours=1)
    # Interleaved as a batch decides them, two's first refused: a row per client.
    clients = (one, two, one, two, one)
    batch = [teller.decision(c, MARIA, at, accepted=i != 1) for i, c in enumerate(clients)]
    later = [teller.decision(one, ANA, at + TICK)]
    record(container, [batch, later])
    d = t.risk_decisions.c
    with container.db.transaction(write=False) as tx:
        rows = tx.conn.execute(
            select(d.client_id, d.decided_total, d.accepted_total)
            .where(d.client_id.in_((one, two)))
            .order_by(d.at, d.client_id)
        ).all()
        risk = SqlRisk(tx.conn)
        listed = risk.decisions(client_id=None, since=at, limit=10)
        two_of_them = risk.decisions(client_id=None, since=at, limit=2)
        theirs = risk.decisions(client_id=two, since=None, limit=10)
    firsts = sorted([(one, 3, 3_00), (two, 2, 1_00)])
    assert [tuple(r) for r in rows] == [*firsts, (one, 4, 4_00)]
    mine = [x for x in batch if x.client_id == one]
    others = [x for x in batch if x.client_id == two]
    by_client = {one: mine[::-1], two: others[::-1]}
    same_moment = [x for c in sorted(by_client) for x in by_client[c]]
    assert [x for x in listed if x.client_id in (one, two)] == [*later, *same_moment]
    assert two_of_them == [*later, same_moment[0]]
    assert theirs == others[::-1]


def test_the_decision_of_a_cash_out_is_found_at_its_moment(container: Container) -> None:
    client = str(uuid.uuid4())
    teller = Teller()
    batch = [teller.decision(client, payee, T0) for payee in (MARIA, ANA, JOAO)]
    record(container, [batch, [teller.decision(client, MARIA, T0 + TICK)]])
    accepted = batch[1]
    assert accepted.cash_out_id is not None
    with container.db.transaction(write=False) as tx:
        risk = SqlRisk(tx.conn)
        assert risk.decision_of(client, T0, accepted.cash_out_id) == accepted
        assert risk.decision_of(client, T0 + TICK, accepted.cash_out_id) is None
        assert risk.decision_of("someone else", T0, accepted.cash_out_id) is None


def test_every_rules_check_is_kept_packed_and_read_back_whole(container: Container) -> None:
    client = str(uuid.uuid4())
    history = RiskHistory(payees={MARIA})
    every = tuple(screen(EVERY_RULE, history, Screening(owner_marked=True), MARIA, 7_00, T0))
    assert [c.rule for c in every] == [
        "fraud_markers",
        "max_cash_outs_per_minute",
        "max_amount_per_hour",
        "new_payee_limit",
        "night_limit",
    ]
    # A check of another shape (an external engine's; a rule's inputs changed) is whole.
    odd = (Check("external_engine", True, {"score": 3}), Check("night_limit", True, {}))
    made = [
        Decision("d1", client, None, T0, 7_00, MARIA, "FRAUD_SUSPECTED", every, Tally(1, 0)),
        Decision("d2", client, "co2", T0, 1_00, ANA, None, odd, Tally(2, 1_00)),
    ]
    record(container, [made])
    d = t.risk_decisions.c
    with container.db.transaction(write=False) as tx:
        [document] = tx.conn.execute(select(d.decisions).where(d.client_id == client)).scalars()
        found = SqlRisk(tx.conn).decisions(client_id=client, since=None, limit=10)
    assert found == made[::-1]
    kept = json.loads(document)
    assert kept[0]["checks"] == [
        [0, False, False, True, False],
        [1, True, 10, 0],
        [2, True, 1_000_00, 0, 7_00],
        [3, True, 500_00, True, 7_00],
        [4, True, 2_000_00, "00:00-23:59", 0, 7_00],
    ]
    assert kept[1]["checks"] == [c.as_record() for c in odd]
