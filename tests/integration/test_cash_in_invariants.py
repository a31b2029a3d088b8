"""``tests.invariants.cash_in_problems``, on SQLite and PostgreSQL: a run of cash-ins
(by key and by charge, held and released, on-us) leaves none; and each kind of damage
the reliability suite relies on it to see is seen: a Pix credited twice, a dynamic
charge COMPLETED unpaid, an on-us cash-out FAILED after crediting its receiver, money
moved for a reason the check does not know, refunds over their payment, returns over
their cash-out, a MED block released while its report is OPEN."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Executable, Row, Table, update

from connectpsp.adapters.participants import load_participants
from connectpsp.adapters.storage import schema as t
from connectpsp.api.cash_out_body import parse_cash_out
from connectpsp.bootstrap import Container, build
from connectpsp.domain.cashin import ChargeRequest, ChargeType
from connectpsp.domain.ids import new_id, return_id
from connectpsp.domain.infractions import InfractionStatus
from connectpsp.domain.ledger import (
    PSP_SETTLEMENT,
    WORLD,
    FeePlan,
    Transfer,
    client_account_code,
    single,
)
from connectpsp.domain.pix import PixKeyType
from connectpsp.domain.refunds import Refund, RefundReason, new_refund
from connectpsp.domain.returns import CashOutReturn
from connectpsp.service.acceptance import Accepted
from connectpsp.service.ports import UnitOfWork
from connectpsp.service.rail import Payer
from tests.invariants import cash_in_problems, ledger_problems, settlement_problems
from tests.support import FakeClock, database

MARKED = "71460238001"  # not the sandbox payer's own document
OTHER_BANK = "60701190"


@dataclass
class Run:
    container: Container
    payer: str  # client ids
    receiver: str
    key_pix: str  # the endToEndId of a Pix to the receiver's key
    dynamic_charge: str  # an unpaid dynamic charge's internal code
    on_us: str  # a COMPLETED on-us cash-out's id


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Run]:
    """A fresh database after a run of every kind of cash-in."""
    with database(request.param, tmp_path) as settings:
        clock = FakeClock()
        c = build(settings, clock=clock)
        try:
            yield _run(c, clock)
        finally:
            c.close()


def _run(c: Container, clock: FakeClock) -> Run:
    payer = c.clients.create("payer", fee_plan=FeePlan(fixed=50), document="39053344705")
    receiver = c.clients.create(
        "receiver", cash_in_fee_plan=FeePlan(fixed=20), document="86288366757"
    )
    c.clients.fund(payer.client_id, 100_00)
    full = c.clients.get(receiver.client_id)
    key = c.pix_keys.register(full, PixKeyType.EVP, None, "test").key
    key_pix = c.sandbox_payer.pay(pix_key=key, amount=10_00)
    c.sandbox_fraud_markers.add(document=MARKED)
    marked = Payer("Marked", MARKED, OTHER_BANK)
    c.sandbox_payer.pay(pix_key=key, amount=5_00, payer=marked)  # held
    [held] = c.blocks.listed(client_id=receiver.client_id)
    c.sandbox_payer.pay(pix_key=key, amount=6_00, payer=marked)  # held, and left so
    c.blocks.release(held.id, by="test")

    def charge(kind: ChargeType, amount: int | None) -> tuple[str, str]:
        request = ChargeRequest(kind, amount, f"ref-{uuid.uuid4().hex}", expires_in=None)
        decided = c.cash_ins.create(full, str(uuid.uuid4()), request)
        assert isinstance(decided.outcome, Accepted)
        return decided.outcome.result.internal_code, decided.outcome.result.br_code

    _, paid_code = charge(ChargeType.DYNAMIC, 7_00)
    c.sandbox_payer.pay(br_code=paid_code)
    unpaid, _ = charge(ChargeType.DYNAMIC, 8_00)
    _, static_code = charge(ChargeType.STATIC, None)
    c.sandbox_payer.pay(br_code=static_code, amount=1_00)
    c.sandbox_payer.pay(br_code=static_code, amount=2_00)

    body = {
        "amount": "12.34",
        "externalReference": "on-us",
        "payee": {
            "name": "Receiver",
            "document": "86288366757",
            "destination": {"type": "PIX", "pixKeyType": "EVP", "pixKey": key},
        },
    }
    paying = c.clients.get(payer.client_id)
    cash_out = parse_cash_out(body, load_participants(), paying.per_transaction_limit)
    decided = c.cash_outs.create(paying, "on-us", cash_out)
    assert isinstance(decided.outcome, Accepted)
    for _ in range(5):
        clock.advance(minutes=2)
        c.settlement.run_due()
    [on_us] = [r for r in _rows(c, t.cash_outs) if r.status == "COMPLETED"]
    return Run(c, payer.client_id, receiver.client_id, key_pix, unpaid, on_us.id)


def _rows(c: Container, table: Table) -> list[Row[Any]]:
    with c.db.transaction(write=False) as tx:
        return list(tx.conn.execute(table.select()))


def _change(c: Container, statement: Executable) -> None:
    with c.db.transaction(write=True) as tx:
        tx.conn.execute(statement)
        tx.commit()


def test_a_run_of_cash_ins_leaves_no_problem(run: Run) -> None:
    c = run.container
    assert ledger_problems(c.db) == []
    assert cash_in_problems(c.db, c.settings.ispb) == []
    # Settled on-us, with no SPI payment: not a cash-out COMPLETED without its payment.
    assert settlement_problems(c.db, [run.on_us], c.settings.ispb) == []
    assert len(_rows(c, t.cash_ins)) == 7
    assert c.clients.blocked(run.receiver) == 5_80


def test_a_pix_credited_twice_is_seen(run: Run) -> None:
    c = run.container
    again = single(
        new_id(),
        debit=PSP_SETTLEMENT,
        credit=client_account_code(run.receiver),
        amount=10_00,
        code="cash_in",
        ref=run.key_pix,
    )
    with c.uow(write=True) as uow:
        uow.ledger.record([again])
        uow.commit()
    assert ledger_problems(c.db) == []  # the ledger alone balances
    problems = cash_in_problems(c.db, c.settings.ispb)
    assert f"cash_in transfer {again.id} (ref {run.key_pix}) has no cash-in" in problems
    account = client_account_code(run.receiver)
    assert any(p.startswith(f"{account} holds") for p in problems), problems
    assert any(p.startswith(f"{PSP_SETTLEMENT} holds") for p in problems), problems


def test_a_dynamic_charge_completed_unpaid_is_seen(run: Run) -> None:
    c = run.container
    charges = t.charges.c
    _change(
        c,
        update(t.charges)
        .where(charges.internal_code == run.dynamic_charge)
        .values(status="COMPLETED"),
    )
    assert cash_in_problems(c.db, c.settings.ispb) == [
        f"dynamic charge {run.dynamic_charge} COMPLETED, 0 paid"
    ]


def test_an_on_us_cash_out_failed_after_crediting_its_receiver_is_seen(run: Run) -> None:
    c = run.container
    _change(c, update(t.cash_outs).where(t.cash_outs.c.id == run.on_us).values(status="FAILED"))
    problems = cash_in_problems(c.db, c.settings.ispb)
    assert any(p.startswith("on-us ") and "FAILED but credited 1234" in p for p in problems), (
        problems
    )


def test_money_moved_for_an_unknown_reason_is_seen(run: Run) -> None:
    c = run.container
    gift = single(
        new_id(),
        debit=WORLD,
        credit=client_account_code(run.payer),
        amount=1,
        code="gift",
        ref=None,
    )
    with c.uow(write=True) as uow:
        uow.ledger.record([gift])
        uow.commit()
    problems = cash_in_problems(c.db, c.settings.ispb)
    assert "1 transfers of unknown code 'gift'" in problems
    assert any(p.startswith(f"{WORLD} holds") for p in problems), problems


def _record(c: Container, add: Callable[[UnitOfWork], None], transfers: list[Transfer]) -> None:
    """Rows and their transfers written straight, past every rule of the services."""
    with c.uow(write=True) as uow:
        add(uow)
        uow.ledger.record(transfers)
        uow.commit()


def test_refunds_adding_up_to_more_than_their_payment_are_seen(run: Run) -> None:
    c = run.container
    with c.uow() as uow:
        payment = uow.cash_ins.get(run.key_pix)
    assert payment is not None and payment.amount == 10_00

    def refund(amount: int) -> Refund:
        # Each as if it were the first: neither sees the other's 6.00.
        return new_refund(
            new_id(),
            ispb=c.settings.ispb,
            payment=payment,
            refunds=[],
            charge=None,
            amount=amount,
            reason=RefundReason.ORIGINAL,
            description=None,
            now=c.clock.now(),
        )

    first = refund(6_00)
    _record(c, lambda uow: uow.refunds.add([first]), [first.reservation()])
    assert cash_in_problems(c.db, c.settings.ispb) == []
    second = refund(6_00)
    _record(c, lambda uow: uow.refunds.add([second]), [second.reservation()])
    assert cash_in_problems(c.db, c.settings.ispb) == [
        f"payment {run.key_pix} of 1000: 1200 refunded"
    ]


def test_returns_adding_up_to_more_than_their_cash_out_are_seen(run: Run) -> None:
    c = run.container
    [on_us] = [r for r in _rows(c, t.cash_outs) if r.id == run.on_us]

    def back(amount: int) -> CashOutReturn:
        now = c.clock.now()
        return CashOutReturn(
            return_id(OTHER_BANK, now, new_id()), on_us.id, run.payer, amount, "MD06", now
        )

    whole = back(on_us.amount)
    _record(c, lambda uow: uow.returns.add(whole), [whole.credit()])
    assert cash_in_problems(c.db, c.settings.ispb) == []
    more = back(1)
    _record(c, lambda uow: uow.returns.add(more), [more.credit()])
    [problem] = cash_in_problems(c.db, c.settings.ispb)
    assert problem.startswith(f"cash-out {on_us.id}: {on_us.amount + 1} returned of "), problem


def test_a_med_block_released_while_its_infraction_is_open_is_seen(run: Run) -> None:
    c = run.container
    reported = c.infractions.report(run.key_pix)
    assert reported.status is InfractionStatus.OPEN and reported.blocked == 10_00
    assert cash_in_problems(c.db, c.settings.ispb) == []
    with c.uow() as uow:
        block = uow.blocks.get(reported.block_id)
    assert block is not None and block.active
    released, back = block.release(c.clock.now(), "tamper")

    def release(uow: UnitOfWork) -> None:
        assert uow.blocks.release(released)

    _record(c, release, [back])
    still = c.infractions.get(c.clients.get(run.receiver), reported.id)
    assert still.status is InfractionStatus.OPEN
    [problem] = cash_in_problems(c.db, c.settings.ispb)
    assert problem.startswith(f"MED block {block.id} released ") and problem.endswith(", OPEN")
