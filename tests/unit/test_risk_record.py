"""What the fraud checks' hot path does to stay cheap (issue 20), checked against what it
replaces: decision ids in time order, the checks' JSON as ``json.dumps`` writes it (the
checks of the known rules packed), one
shared fraud-markers check per screening, and payees read as paid not read again."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from connectpsp.adapters.storage.risk import _document
from connectpsp.domain.risk import (
    Check,
    Decision,
    RiskHistory,
    RiskRules,
    Screening,
    Tally,
    screen,
)
from tests.fakes import EVERY_RULE, FakeRisk, fake_services, one_batch, request

NOON = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "checks",
    [
        (),
        tuple(screen(RiskRules(), RiskHistory(), Screening(), "1", 1_00, NOON)),
        tuple(screen(EVERY_RULE, RiskHistory(), Screening(True, False, True), "1", 1_00, NOON)),
        (
            Check("fraud_markers", False, {"keyMarked": True}),
            Check('wé"ird', True, {'a"b': None, "c": "dé", "d": 1.5, "e": -3, "f": [1, False]}),
            Check("empty", False, {}),
        ),
    ],
)
def test_the_decisions_are_recorded_as_json_dumps_writes_them(checks: tuple[Check, ...]) -> None:
    # The format kept: a known rule's check as [its place, passed, *its inputs' values]
    # when its inputs are the rule's, in order; any other check whole.
    places = {
        "fraud_markers": (0, ["keyMarked", "ownerMarked", "payeeMarked"]),
        "max_cash_outs_per_minute": (1, ["limit", "inLastMinute"]),
        "max_amount_per_hour": (2, ["limit", "inLastHour", "amount"]),
        "new_payee_limit": (3, ["limit", "knownPayee", "amount"]),
        "night_limit": (4, ["limit", "window", "sentTonight", "amount"]),
    }

    def kept(c: Check) -> Any:
        place, names = places.get(c.rule, (None, None))
        if names != list(c.inputs):
            return c.as_record()
        return [place, c.passed, *c.inputs.values()]

    accepted = Decision("d1", "c", "co1", NOON, 1_00, "12345678909", None, checks, Tally(1, 1_00))
    refused = replace(accepted, id="d2", cash_out_id=None, code="LIMIT_EXCEEDED", checks=())
    records = [
        {
            "id": d.id,
            "cashOutId": d.cash_out_id,
            "amount": d.amount,
            "payee": d.payee,
            "code": d.code,
            "checks": [kept(c) for c in d.checks],
        }
        for d in (accepted, refused)
    ]
    written = _document([accepted, refused])
    # Compact, and text as it is (json.dumps would escape é): it reads back the same.
    assert written == json.dumps(records, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(written) == records


def test_equal_screenings_share_one_fraud_markers_check() -> None:
    first, *_ = screen(EVERY_RULE, RiskHistory(), Screening(), "1", 1_00, NOON)
    again, *_ = screen(RiskRules(), RiskHistory(), Screening(), "2", 5_00, NOON)
    marked, *_ = screen(RiskRules(), RiskHistory(), Screening(key_marked=True), "2", 5_00, NOON)
    assert first is again
    assert marked is not first and not marked.passed and marked.inputs["keyMarked"]


def test_a_payee_read_as_paid_is_not_read_again_and_a_new_one_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[list[tuple[str, str]]] = []
    paid = FakeRisk.paid

    def counted(self: FakeRisk, pairs: list[tuple[str, str]]) -> Any:
        asked.append(list(pairs))
        return paid(self, pairs)

    monkeypatch.setattr(FakeRisk, "paid", counted)
    with fake_services() as s:
        payer = s.client(funds=10_000_00)
        s.clients.set_risk(payer.id, RiskRules(new_payee_limit=10_00))
        payer = s.clients.get(payer.id)

        def send(amount: int, reference: str) -> str:
            outcome = s.cash_outs.create(payer, reference, request(amount, reference)).outcome
            return type(outcome).__name__

        assert send(5_00, "a") == "Accepted"  # a first payment under the cap: read, unpaid
        assert send(50_00, "b") == "Accepted"  # read again: paid now, and remembered
        assert send(50_00, "c") == "Accepted"  # remembered: not read
    payee = request(1, "x").payee.document
    assert asked == [[(payer.id, payee)], [(payer.id, payee)]]


def test_a_batch_of_several_clients_reads_each_one_its_own_history() -> None:
    """Each client's tally, tallies before its windows and paid payees, grouped by client
    for a batch of many: a client's rules see its own history and no other's."""
    with fake_services() as s:
        clients = []
        for limit in (2, 3):
            client = s.client(funds=10_000_00)
            s.clients.set_risk(client.id, RiskRules(max_cash_outs_per_minute=limit))
            clients.append(s.clients.get(client.id))
        newcomer = s.client(funds=10_000_00)
        s.clients.set_risk(newcomer.id, RiskRules(new_payee_limit=10_00))
        newcomer = s.clients.get(newcomer.id)
        first, second = clients
        # History before the batch: one cash-out each, and the newcomer's payee paid.
        for client in (first, second, newcomer):
            s.cash_outs.create(client, f"before-{client.id}", request(5_00))
        with one_batch(s.engine, s.db, first):
            futures = [
                (client.id, s.cash_outs.submit(client, f"{client.id}-{n}", request(50_00)))
                for n in range(4)
                for client in (first, second, newcomer)
            ]
        outcomes: dict[str, list[str]] = {}
        for client_id, future in futures:
            outcome = future.result(timeout=10).outcome
            outcomes.setdefault(client_id, []).append(type(outcome).__name__)
    # The first client had one this minute of 2, the second one of 3; the newcomer's
    # payee is known, so 50.00 passes its 10.00 cap for a new payee.
    assert outcomes[first.id] == ["Accepted", "Refused", "Refused", "Refused"]
    assert outcomes[second.id] == ["Accepted", "Accepted", "Refused", "Refused"]
    assert outcomes[newcomer.id] == ["Accepted"] * 4
