"""MED over in-memory fakes: what a report blocks, what an acceptance refunds and a
rejection releases, the default at the deadline, and an operator's decision that comes
first. The same through the real server and the CLI: tests/e2e/test_med.py and
tests/e2e/test_cli_med.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from connectpsp.domain.blocks import Block
from connectpsp.domain.errors import IllegalTransition, ValidationFailed
from connectpsp.domain.infractions import InfractionDecision, InfractionStatus
from connectpsp.domain.refunds import RefundReason, RefundStatus
from connectpsp.service.acceptance import Accepted
from connectpsp.service.infractions import DEADLINE_TOPIC, Infractions, register_payloads
from connectpsp.service.refund_flow import REFUND_TOPIC
from tests.fakes import ISPB, fake_services
from tests.unit.test_use_cases_refunds import World, settled


@pytest.fixture
def w() -> Iterator[World]:
    with fake_services() as s:
        world = World(s)
        register_payloads(s.publisher)
        yield world


def med(w: World, default: InfractionDecision = InfractionDecision.ACCEPT) -> Infractions:
    return Infractions(w.s.db, clock=w.s.clock, ispb=ISPB, default=default)


def money(w: World, client_id: str) -> tuple[int, int, int]:
    balance = w.s.clients.balance(client_id)
    return balance.available, balance.reserved, w.s.clients.blocked(client_id)


def open_jobs(w: World, topic: str) -> list[str]:
    return [j.ref for j in w.s.db.committed.jobs.values() if j.topic == topic and not j.done_at]


def kinds(w: World) -> list[str]:
    return [e.type for e in w.s.db.published if e.type.startswith("INFRACTION")]


def test_a_report_blocks_what_it_finds_up_to_its_amount(w: World) -> None:
    client = w.s.client(funds=1_00)
    code, e2e = w.paid(client, 10_00)
    assert isinstance(w.refund(client, code, 3_01), Accepted)
    reported = med(w).report(e2e, 9_00)
    # 6.99 of the Pix can still go back, and 7.99 is available: 6.99 is blocked.
    assert (reported.amount, reported.blocked, reported.status) == (
        9_00,
        6_99,
        InfractionStatus.OPEN,
    )
    assert money(w, client.id) == (1_00, 3_01, 6_99)
    assert open_jobs(w, DEADLINE_TOPIC) == [reported.id]
    assert reported.deadline - reported.reported_at == timedelta(days=7)
    with pytest.raises(IllegalTransition):  # one report per Pix
        med(w).report(e2e)
    with pytest.raises(ValidationFailed):
        med(w).report(w.paid(client, 1_00)[1], 1_01)
    assert kinds(w) == ["INFRACTION_REPORTED"]


def test_accepting_refunds_the_blocked_funds_with_fr01(w: World) -> None:
    client = w.s.client()
    code, e2e = w.paid(client, 10_00)
    reported = med(w).report(e2e, 4_00)
    assert money(w, client.id) == (6_00, 0, 4_00)
    accepted = med(w).accept(reported.id, by="ana")
    assert (accepted.status, accepted.decided_by) == (InfractionStatus.ACCEPTED, "ana")
    assert money(w, client.id) == (6_00, 4_00, 0)  # never available in between
    refund = w.s.db.committed.refunds[accepted.refund_id or ""]
    assert (refund.reason, refund.amount, refund.internal_code) == (RefundReason.FRAUD, 4_00, code)
    assert open_jobs(w, REFUND_TOPIC) == [refund.id]
    w.rail.answers = [settled]
    w.sender.send_due()
    assert w.rail.orders[0].reason == "FR01"
    assert w.s.db.committed.refunds[refund.id].status is RefundStatus.COMPLETED
    assert money(w, client.id) == (6_00, 0, 0)
    with pytest.raises(IllegalTransition):
        med(w).reject(reported.id, by="ana", reason="too late")
    assert kinds(w) == ["INFRACTION_REPORTED", "INFRACTION_ACCEPTED"]


def test_rejecting_releases_the_funds_and_says_why(w: World) -> None:
    client = w.s.client()
    _, e2e = w.paid(client, 5_00)
    reported = med(w).report(e2e)
    with pytest.raises(ValidationFailed):
        med(w).reject(reported.id, by="ana", reason=" ")
    rejected = med(w).reject(reported.id, by="ana", reason="the payer confirmed it")
    assert (rejected.status, rejected.rejection_reason, rejected.refund_id) == (
        InfractionStatus.REJECTED,
        "the payer confirmed it",
        None,
    )
    assert money(w, client.id) == (5_00, 0, 0)
    assert not open_jobs(w, REFUND_TOPIC)


@pytest.mark.parametrize("default", list(InfractionDecision))
def test_the_default_applies_at_the_deadline_and_not_before(
    w: World, default: InfractionDecision
) -> None:
    client = w.s.client()
    _, e2e = w.paid(client, 2_00)
    reported = med(w, default).report(e2e)
    w.s.clock.advance(days=7, seconds=-1)
    assert med(w, default).decide_due() == 0
    w.s.clock.advance(seconds=1)
    assert med(w, default).decide_due() == 1
    decided = w.s.db.committed.infractions[reported.id]
    assert decided.decided_by == "deadline"
    if default is InfractionDecision.ACCEPT:
        assert decided.status is InfractionStatus.ACCEPTED
        assert money(w, client.id) == (0, 2_00, 0)
    else:
        assert decided.status is InfractionStatus.REJECTED
        assert money(w, client.id) == (2_00, 0, 0)
    assert not open_jobs(w, DEADLINE_TOPIC)


def test_an_operators_decision_first_leaves_the_deadline_nothing_to_do(w: World) -> None:
    client = w.s.client()
    _, e2e = w.paid(client, 2_00)
    reported = med(w).report(e2e)
    med(w).reject(reported.id, by="ana", reason="legit")
    w.s.clock.advance(days=8)
    assert med(w).decide_due() == 1
    decided = w.s.db.committed.infractions[reported.id]
    assert (decided.status, decided.decided_by) == (InfractionStatus.REJECTED, "ana")
    assert money(w, client.id) == (2_00, 0, 0)
    assert not open_jobs(w, DEADLINE_TOPIC)


def test_an_acceptance_refunds_only_what_is_still_left_of_the_pix(w: World) -> None:
    client = w.s.client(funds=10_00)
    code, e2e = w.paid(client, 10_00)
    reported = med(w).report(e2e)
    assert reported.blocked == 10_00
    # The client refunds 7.00 from its other funds while the report is open.
    assert isinstance(w.refund(client, code, 7_00), Accepted)
    accepted = med(w).accept(reported.id, by="ana")
    refund = w.s.db.committed.refunds[accepted.refund_id or ""]
    assert refund.amount == 3_00
    assert money(w, client.id) == (10_00, 7_00 + 3_00, 0)  # the other 7.00 released


def test_a_report_on_a_held_pix_takes_the_hold_over(w: World) -> None:
    client = w.s.client()
    _, e2e = w.paid(client, 10_00)
    hold = Block.precautionary(client.id, e2e, 10_00, w.s.clock.now())
    with w.s.db(write=True) as uow:  # as a marked payer's Pix is credited
        uow.blocks.add(hold)
        uow.ledger.record([hold.hold()])
        uow.commit()
    assert money(w, client.id) == (0, 0, 10_00)
    reported = med(w).report(e2e)
    assert reported.blocked == 10_00  # what the hold kept, now the report's
    assert money(w, client.id) == (0, 0, 10_00)
    with w.s.db() as uow:
        ended = uow.blocks.get(hold.id)
    assert ended is not None and (ended.active, ended.released_by) == (False, "med")
    med(w).accept(reported.id, by="ana")
    assert money(w, client.id) == (0, 10_00, 0)  # on its way back to the payer
