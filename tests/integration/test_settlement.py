"""The settlement engine against a scripted rail (timeouts, unknown answers) and against
the simulated network with latency, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectpsp.adapters.participants import load_participants
from connectpsp.adapters.rails.simulated import SimulatedPixNetwork
from connectpsp.adapters.storage import schema as t
from connectpsp.bootstrap import Container
from connectpsp.domain.cashout import (
    CashOutRequest,
    CashOutStatus,
    Creditor,
    Payee,
    PixDestination,
)
from connectpsp.domain.errors import IllegalTransition
from connectpsp.domain.ledger import client_account_code
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.domain.spi import PIX_KEY_NOT_FOUND
from connectpsp.service.acceptance import Accepted
from connectpsp.service.cashouts import SETTLE_TOPIC
from connectpsp.service.rail import (
    PaymentOrder,
    RailState,
    RailStatus,
    RailUnavailable,
    submit_each,
)
from connectpsp.service.settlement import SettlementService, finish, rail_key
from connectpsp.settings import Settings
from tests.invariants import settlement_problems
from tests.statements import WatchStatements
from tests.support import FakeClock

MARIA = Creditor("Maria Silva", "12345678909", "18236120", "0001", "947710840", AccountType.PAYMENT)


class ScriptedRail:
    """A rail whose answers a test writes in advance."""

    def __init__(self) -> None:
        self.submits: list[PaymentOrder] = []
        self.on_submit: list[Callable[[PaymentOrder], RailStatus]] = []
        self.on_status: list[Callable[[str], RailStatus]] = []

    def lookup(self, key_type: PixKeyType, key: str) -> Creditor | None:
        return MARIA

    def submit(self, order: PaymentOrder) -> RailStatus:
        self.submits.append(order)
        return self.on_submit.pop(0)(order)

    def submit_many(self, orders: list[PaymentOrder]) -> list[RailStatus]:
        return submit_each(self, orders)

    def status(self, idempotency_key: str) -> RailStatus:
        return self.on_status.pop(0)(idempotency_key)


def timeout(*_: Any) -> RailStatus:
    raise RailUnavailable("no answer")


def settled(clock: FakeClock) -> Callable[..., RailStatus]:
    """A SETTLED answer with an endToEndId of its own (they are unique)."""
    return lambda *_: RailStatus(
        RailState.SETTLED,
        f"E00416968{clock.now():%Y%m%d%H%M}{uuid.uuid4().hex[:11]}",
        settled_at=clock.now(),
    )


def accept(container: Container, clock: FakeClock) -> tuple[str, str]:
    """A funded client and one accepted cash-out of R$ 10.00: (client id, cash-out id)."""
    creds = container.clients.create("settle")
    container.clients.fund(creds.client_id, 100_00)
    client = container.clients.get(creds.client_id)
    request = CashOutRequest(
        amount=10_00,
        external_reference=f"r-{uuid.uuid4().hex[:8]}",
        description=None,
        webhook_url=None,
        payee=Payee("Maria Silva", "12345678909", PixDestination(PixKeyType.CPF, "12345678909")),
    )
    reply = container.cash_outs.create(client, str(uuid.uuid4()), request)
    assert isinstance(reply.outcome, Accepted)
    with container.uow() as uow:
        found = uow.cash_outs.by_external_reference(client.id, request.external_reference)
    assert found is not None
    return client.id, found.id


def status_of(container: Container, cash_out_id: str) -> CashOutStatus:
    with container.uow() as uow:
        found = uow.cash_outs.by_id(cash_out_id)
    assert found is not None
    return found.status


def available(container: Container, client_id: str) -> int:
    with container.uow() as uow:
        return uow.ledger.balance(client_account_code(client_id)).available


def events_for(container: Container, cash_out_id: str) -> int:
    with container.db.transaction(write=False) as tx:
        m = t.webhook_messages.c
        return int(
            tx.conn.execute(
                select(func.count()).where(
                    m.shape == "movement",
                    m.subject_kind == "cash_out",
                    m.subject_id == cash_out_id,
                )
            ).scalar_one()
        )


def job_is_open(container: Container, job_id: int) -> bool:
    with container.db.transaction(write=False) as tx:
        done = tx.conn.execute(select(t.outbox.c.done_at).where(t.outbox.c.id == job_id))
        return done.scalar_one() is None


def drain(service: SettlementService, clock: FakeClock, rounds: int = 1) -> None:
    for _ in range(rounds):
        clock.advance(minutes=2)  # past any backoff
        service.run_due()


@pytest.fixture
def clock(container: Container) -> FakeClock:
    assert isinstance(container.clock, FakeClock)
    return container.clock


def test_timeouts_never_fail_a_payment(container: Container, clock: FakeClock) -> None:
    client_id, cash_out_id = accept(container, clock)
    rail = ScriptedRail()
    service = SettlementService(container.uow, rail=rail, clock=clock, ispb="00416968")
    # The first submit gets no answer; the rail then says it never saw the payment, so it
    # is submitted again, and times out again; then status is unknown twice.
    rail.on_submit = [timeout, timeout]
    rail.on_status = [lambda _: RailStatus(RailState.NOT_FOUND), timeout, timeout, settled(clock)]
    with container.db.transaction(write=True) as tx:  # only this cash-out's job is due
        tx.conn.execute(
            t.outbox.update()
            .where(t.outbox.c.ref != cash_out_id, t.outbox.c.done_at.is_(None))
            .values(done_at=clock.now())
        )
        tx.commit()
    drain(service, clock, rounds=4)
    assert status_of(container, cash_out_id) is CashOutStatus.PROCESSING
    assert available(container, client_id) == 90_00  # still reserved, never released
    drain(service, clock)
    assert status_of(container, cash_out_id) is CashOutStatus.COMPLETED
    assert len(rail.submits) == 2  # submitted only when the rail said it had none
    assert {o.idempotency_key for o in rail.submits} == {rail.submits[0].idempotency_key}
    assert {o.end_to_end_id for o in rail.submits} == {rail.submits[0].end_to_end_id}
    assert available(container, client_id) == 90_00
    assert events_for(container, cash_out_id) == 1
    assert not rail.on_submit and not rail.on_status  # every scripted answer was used


def test_simulated_latency_keeps_it_processing_until_due(
    container: Container, clock: FakeClock
) -> None:
    network = SimulatedPixNetwork(
        container.db, clock=clock, participants=load_participants(), latency=timedelta(seconds=5)
    )
    service = SettlementService(
        container.uow,
        rail=network,
        clock=clock,
        ispb="00416968",
    )
    client_id, cash_out_id = accept(container, clock)
    service.run_due()
    assert status_of(container, cash_out_id) is CashOutStatus.PROCESSING
    service.run_due()  # not due yet: nothing happens
    assert status_of(container, cash_out_id) is CashOutStatus.PROCESSING
    clock.advance(seconds=5)
    service.run_due()
    assert status_of(container, cash_out_id) is CashOutStatus.COMPLETED
    with container.uow() as uow:
        done = uow.cash_outs.by_id(cash_out_id)
    assert done is not None and done.paid_at is not None and done.submitted_at is not None
    assert timedelta(seconds=5) <= done.paid_at - done.submitted_at < timedelta(seconds=6)
    assert available(container, client_id) == 90_00


def test_two_workers_on_one_job_move_money_once(container: Container, clock: FakeClock) -> None:
    client_id, cash_out_id = accept(container, clock)
    with container.uow(write=True) as uow:
        jobs = [
            j
            for j in uow.outbox.claim(
                SETTLE_TOPIC, now=clock.now(), lease_until=clock.now(), limit=1000
            )
            if j.ref == cash_out_id
        ]
        uow.commit()
    assert len(jobs) == 1
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            container.settlement.settle(jobs)  # both hold the one job
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert status_of(container, cash_out_id) is CashOutStatus.COMPLETED
    assert events_for(container, cash_out_id) == 1
    assert available(container, client_id) == 90_00
    with container.db.transaction(write=False) as tx:
        p = t.sandbox_spi_payments.c
        payments = tx.conn.execute(
            select(p.end_to_end_id).where(p.idempotency_key == rail_key(cash_out_id))
        ).all()
    with container.uow() as uow:
        done = uow.cash_outs.by_id(cash_out_id)
    assert done is not None
    assert [row.end_to_end_id for row in payments] == [done.end_to_end_id]  # paid once


def test_illegal_transitions_raise_and_terminal_is_final(
    container: Container, clock: FakeClock
) -> None:
    _, cash_out_id = accept(container, clock)
    with container.uow(write=True) as uow:
        cash_out = uow.cash_outs.by_id(cash_out_id)
    assert cash_out is not None
    with pytest.raises(IllegalTransition):
        cash_out.status.check_transition(CashOutStatus.PROCESSING)
    failed = cash_out.fail(PIX_KEY_NOT_FOUND)
    with container.uow(write=True) as uow:
        assert finish(uow, failed, clock.now()) is None  # this call made the move
        # The same move again (a second worker with the same answer): a quiet no-op.
        assert finish(uow, failed, clock.now()) == failed
        # Out of a terminal status to another: an error, not silence.
        with pytest.raises(IllegalTransition):
            finish(
                uow, cash_out.complete("E00416968202603101827cemeFscF6AG", clock.now()), clock.now()
            )
        with pytest.raises(IllegalTransition):
            failed.complete("E00416968202603101827cemeFscF6AG", clock.now())
        uow.commit()
    assert status_of(container, cash_out_id) is CashOutStatus.FAILED


def test_finishing_unsubmitted_only_leaves_a_submitted_cash_out_alone(
    container: Container, clock: FakeClock
) -> None:
    """A stale worker failing a cash-out before submission gets the cash-out as stored,
    not an error, once someone has sent it to the rail, whether it is still PROCESSING
    or COMPLETED."""
    _, cash_out_id = accept(container, clock)
    with container.uow(write=True) as uow:
        cash_out = uow.cash_outs.by_id(cash_out_id)
        assert cash_out is not None
        sent = cash_out.submit(MARIA, clock.now())
        assert uow.cash_outs.mark_submitted(sent, clock.now())
        assert not uow.cash_outs.mark_submitted(sent, clock.now())  # once only
        stale = cash_out.fail(PIX_KEY_NOT_FOUND)
        for expected in (CashOutStatus.PROCESSING, CashOutStatus.COMPLETED):
            if expected is CashOutStatus.COMPLETED:
                completed = sent.complete("E00416968202603101827cemeFscF6AG", clock.now())
                assert finish(uow, completed, clock.now()) is None
            current = finish(uow, stale, clock.now(), unsubmitted_only=True)
            assert current is not None and current.status is expected
        uow.commit()
    assert status_of(container, cash_out_id) is CashOutStatus.COMPLETED


def test_a_stale_worker_never_fails_a_submitted_cash_out(
    container: Container, clock: FakeClock
) -> None:
    """Worker B read the cash-out as unsent; worker A sends it to the rail while B looks
    the key up, and the key then resolves to nothing for B. B must not fail it (A's
    payment would settle on a refunded balance); it reconciles instead."""
    client_id, cash_out_id = accept(container, clock)
    rail = ScriptedRail()

    def lookup_while_a_submits(key_type: PixKeyType, key: str) -> Creditor | None:
        with container.uow(write=True) as uow:  # worker A, meanwhile
            cash_out = uow.cash_outs.by_id(cash_out_id)
            assert cash_out is not None
            assert uow.cash_outs.mark_submitted(cash_out.submit(MARIA, clock.now()), clock.now())
            uow.commit()
        return None  # what B sees: the key is gone

    rail.lookup = lookup_while_a_submits  # type: ignore[method-assign]
    service = SettlementService(container.uow, rail=rail, clock=clock, ispb="00416968")
    with container.uow(write=True) as uow:
        (job,) = [
            j
            for j in uow.outbox.claim(
                SETTLE_TOPIC, now=clock.now(), lease_until=clock.now(), limit=1000
            )
            if j.ref == cash_out_id
        ]
        uow.commit()
    service.settle([job])
    assert job_is_open(container, job.id)  # deferred to reconcile, not finished
    assert status_of(container, cash_out_id) is CashOutStatus.PROCESSING
    assert available(container, client_id) == 90_00  # still reserved, not refunded
    rail.on_status = [settled(clock)]  # the next run asks the rail: A's payment settled
    clock.advance(seconds=2)
    service.settle([job])
    assert not job_is_open(container, job.id)
    assert status_of(container, cash_out_id) is CashOutStatus.COMPLETED
    assert available(container, client_id) == 90_00
    assert rail.submits == []  # B never paid it a second time


def test_dict_lookup_names_the_owner_and_account(container: Container) -> None:
    network = container.network
    person = network.lookup(PixKeyType.CPF, "12345678909")
    company = network.lookup(PixKeyType.CNPJ, "12ABC34501DE35")
    assert person is not None and company is not None
    assert (person.document, person.person_type) == ("12345678909", "NATURAL_PERSON")
    assert (company.name, company.person_type) == ("Loja Exemplo Ltda", "LEGAL_PERSON")
    assert load_participants().is_pix_participant(person.ispb)
    assert person == network.lookup(PixKeyType.CPF, "12345678909")  # stable
    assert network.lookup(PixKeyType.EMAIL, "nobody@sandbox.connectpsp.dev") is None


def accept_many(container: Container, n: int) -> tuple[str, list[str]]:
    """One funded client and ``n`` accepted cash-outs of R$ 1.00: (client id, ids)."""
    creds = container.clients.create("settle-many")
    container.clients.fund(creds.client_id, 1_000_00)
    client = container.clients.get(creds.client_id)
    ids = []
    for _ in range(n):
        request = CashOutRequest(
            amount=1_00,
            external_reference=f"m-{uuid.uuid4().hex[:12]}",
            description=None,
            webhook_url=None,
            payee=Payee(
                "Maria Silva", "12345678909", PixDestination(PixKeyType.CPF, "12345678909")
            ),
        )
        reply = container.cash_outs.create(client, str(uuid.uuid4()), request)
        assert isinstance(reply.outcome, Accepted)
        with container.uow() as uow:
            found = uow.cash_outs.by_external_reference(client.id, request.external_reference)
        assert found is not None
        ids.append(found.id)
    return client.id, ids


def only_due(container: Container, clock: FakeClock, cash_out_ids: list[str]) -> None:
    """End every other open job, so a batch holds just these cash-outs' jobs."""
    with container.db.transaction(write=True) as tx:
        tx.conn.execute(
            t.outbox.update()
            .where(t.outbox.c.ref.not_in(cash_out_ids), t.outbox.c.done_at.is_(None))
            .values(done_at=clock.now())
        )
        tx.commit()


def stored(container: Container, cash_out_id: str) -> Any:
    with container.db.transaction(write=False) as tx:
        return tx.conn.execute(select(t.cash_outs).where(t.cash_outs.c.id == cash_out_id)).one()


def job_of(container: Container, cash_out_id: str) -> Any:
    with container.db.transaction(write=False) as tx:
        o = t.outbox.c
        return tx.conn.execute(
            select(t.outbox).where(o.ref == cash_out_id, o.topic == SETTLE_TOPIC)
        ).one()


def scripted_service(container: Container, clock: FakeClock, rail: ScriptedRail) -> Any:
    return SettlementService(container.uow, rail=rail, clock=clock, ispb="00416968")


def test_an_unknown_reason_code_fails_one_and_the_batch_goes_on(
    container: Container, clock: FakeClock
) -> None:
    client_id, (odd, fine) = accept_many(container, 2)
    only_due(container, clock, [odd, fine])
    rail = ScriptedRail()

    def answer(order: PaymentOrder) -> RailStatus:
        if order.idempotency_key == rail_key(odd):  # a code no catalogue of ours has
            return RailStatus(RailState.REJECTED, order.end_to_end_id, reason="XX99")
        return settled(clock)()

    rail.on_submit = [answer, answer]
    assert scripted_service(container, clock, rail).run_due() == 2
    assert status_of(container, fine) is CashOutStatus.COMPLETED
    failed = stored(container, odd)
    assert failed.status == "FAILED"
    assert (failed.failure_code, failed.spi_reason_code) == ("PAYMENT_FAILED", "XX99")
    assert available(container, client_id) == 1_000_00 - 1_00  # the failed one came back
    assert events_for(container, odd) == events_for(container, fine) == 1
    assert job_of(container, odd).done_at is not None


def test_a_job_that_cannot_be_applied_does_not_block_the_batch(
    container: Container, clock: FakeClock
) -> None:
    """The rail says SETTLED for a cash-out already FAILED here: applying it is an illegal
    move (FAILED -> COMPLETED) and raises. That job is put off with backoff and nothing
    of it is written; the other job of the batch completes."""
    _, (bad, good) = accept_many(container, 2)
    only_due(container, clock, [bad, good])
    rail = ScriptedRail()

    def answer(order: PaymentOrder) -> RailStatus:
        if order.idempotency_key == rail_key(bad):
            with container.uow(write=True) as uow:  # someone else failed it meanwhile
                found = uow.cash_outs.by_id(bad)
                assert found is not None
                finish(uow, found.fail(PIX_KEY_NOT_FOUND), clock.now())
                uow.commit()
        return settled(clock)()

    rail.on_submit = [answer, answer]
    assert scripted_service(container, clock, rail).run_due() == 2
    assert status_of(container, good) is CashOutStatus.COMPLETED
    assert events_for(container, good) == 1
    assert status_of(container, bad) is CashOutStatus.FAILED  # not overwritten
    assert stored(container, bad).end_to_end_id is None
    assert events_for(container, bad) == 0
    job = job_of(container, bad)
    assert job.done_at is None and job.failures == 1  # deferred, with backoff
    assert job.available_at.replace(tzinfo=None) > clock.now().replace(tzinfo=None)
    with container.db.transaction(write=True) as tx:  # leave nothing due behind
        tx.conn.execute(
            t.outbox.update().where(t.outbox.c.id == job.id).values(done_at=clock.now())
        )
        tx.commit()


def test_invariants_catch_a_refund_of_money_the_rail_paid(
    container: Container, clock: FakeClock
) -> None:
    """The rail settled the payment (its record says SETTLED), but the engine was told
    REJECTED and refunded the client: settlement_problems must say so."""
    _, (refunded, honest) = accept_many(container, 2)
    only_due(container, clock, [refunded, honest])
    rail = ScriptedRail()

    def answer(order: PaymentOrder) -> RailStatus:
        [paid] = container.network.submit_many([order])  # SPI pays it...
        if order.idempotency_key == rail_key(refunded):
            assert paid.state is RailState.SETTLED
            return RailStatus(RailState.REJECTED, order.end_to_end_id, reason="ED05")  # ...
        return paid

    rail.on_submit = [answer, answer]
    scripted_service(container, clock, rail).run_due()
    assert status_of(container, refunded) is CashOutStatus.FAILED
    assert status_of(container, honest) is CashOutStatus.COMPLETED
    assert settlement_problems(container.db, [honest]) == []
    problems = settlement_problems(container.db, [refunded])
    assert any("FAILED but the rail's payment is SETTLED" in p for p in problems), problems


def test_end_to_end_ids_are_unique_and_carry_the_configured_ispb(
    container: Container, clock: FakeClock, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {"CONNECTPSP_ISPB": "60701190", "CONNECTPSP_VAR_DIR": str(tmp_path)}
    )
    service = SettlementService(
        container.uow,
        rail=container.network,
        clock=clock,
        ispb=settings.ispb,
    )
    _, ids = accept_many(container, 60)
    only_due(container, clock, ids)
    while service.run_due():
        pass
    e2e = [stored(container, i).end_to_end_id for i in ids]
    assert all(status_of(container, i) is CashOutStatus.COMPLETED for i in ids)
    assert len(set(e2e)) == len(ids)
    assert all(re.fullmatch(r"E60701190\d{12}[A-Za-z0-9]{11}", x) for x in e2e), e2e
    assert settlement_problems(container.db, ids) == []


class BatchDroppingRail:
    """The simulated network behind a link whose first ``submit_many`` answers none of
    the batch (``RailUnavailable``): after the network took the orders and paid them
    (the answer was lost on its way back), or before it saw them."""

    def __init__(self, network: SimulatedPixNetwork, *, paid_first: bool) -> None:
        self.network = network
        self.paid_first = paid_first
        self.batches: list[list[PaymentOrder]] = []
        self.asked: list[str] = []

    def lookup(self, key_type: PixKeyType, key: str) -> Creditor | None:
        return self.network.lookup(key_type, key)

    def submit(self, order: PaymentOrder) -> RailStatus:
        return self.network.submit(order)

    def submit_many(self, orders: list[PaymentOrder]) -> list[RailStatus]:
        self.batches.append(orders)
        if len(self.batches) == 1:
            if self.paid_first:
                self.network.submit_many(orders)
            raise RailUnavailable("the link dropped: no answer for the batch")
        return self.network.submit_many(orders)

    def status(self, idempotency_key: str) -> RailStatus:
        self.asked.append(idempotency_key)
        return self.network.status(idempotency_key)


@pytest.mark.parametrize("paid_first", [True, False], ids=["rail-paid-it", "rail-never-saw-it"])
def test_a_batch_the_rail_answered_none_of_is_never_failed(
    container: Container, clock: FakeClock, paid_first: bool
) -> None:
    """``RailUnavailable`` from ``submit_many`` means any payment of the batch may have
    been made: failing them would refund money the rail paid. Each stays PROCESSING,
    reserved, and is reconciled, so the rail pays it once."""
    client_id, cash_out_id = accept(container, clock)
    only_due(container, clock, [cash_out_id])
    rail = BatchDroppingRail(container.network, paid_first=paid_first)
    service = SettlementService(container.uow, rail=rail, clock=clock, ispb="00416968")
    assert service.run_due() == 1
    assert len(rail.batches) == 1
    assert status_of(container, cash_out_id) is CashOutStatus.PROCESSING
    with container.uow() as uow:
        balance = uow.ledger.balance(client_account_code(client_id))
    assert (balance.available, balance.reserved) == (90_00, 10_00)  # untouched
    job = job_of(container, cash_out_id)
    assert job.done_at is None and job.failures == 1  # deferred with backoff
    assert events_for(container, cash_out_id) == 0
    drain(service, clock)
    assert status_of(container, cash_out_id) is CashOutStatus.COMPLETED
    assert rail.asked == [rail_key(cash_out_id)]  # reconciled before any new submit
    # Paid: nothing sent again. Never seen: sent once more, in a second batch.
    assert len(rail.batches) == (1 if paid_first else 2)
    with container.db.transaction(write=False) as tx:
        p = t.sandbox_spi_payments.c
        payments = tx.conn.execute(
            select(func.count()).where(p.idempotency_key == rail_key(cash_out_id))
        ).scalar_one()
    assert payments == 1
    with container.uow() as uow:
        balance = uow.ledger.balance(client_account_code(client_id))
    assert (balance.available, balance.reserved) == (90_00, 0)
    assert events_for(container, cash_out_id) == 1
    assert settlement_problems(container.db, [cash_out_id]) == []


def claim_due(container: Container, clock: FakeClock, lease: timedelta) -> list[int]:
    """Claim every due settlement job as ``run_due`` does, leased for ``lease``: their ids."""
    with container.uow(write=True) as uow:
        now = clock.now()
        jobs = uow.outbox.claim(SETTLE_TOPIC, now=now, lease_until=now + lease, limit=1000)
        uow.commit()
    return [job.id for job in jobs]


def test_an_abandoned_claim_is_retaken_only_once_its_lease_ends(
    container: Container, clock: FakeClock
) -> None:
    """A worker claims a job and dies (no finish, no defer): no one takes the job while
    its lease holds, and the first claim after the lease ends takes it."""
    client_id, cash_out_id = accept(container, clock)
    only_due(container, clock, [cash_out_id])
    job_id = job_of(container, cash_out_id).id
    lease = timedelta(seconds=60)
    assert claim_due(container, clock, lease) == [job_id]  # ...and the worker dies
    assert claim_due(container, clock, lease) == []
    clock.advance(seconds=55)
    assert claim_due(container, clock, lease) == []  # still leased
    assert container.settlement.run_due() == 0
    clock.advance(seconds=10)
    assert container.settlement.run_due() == 1  # the lease ended: taken again, settled
    assert status_of(container, cash_out_id) is CashOutStatus.COMPLETED
    assert job_of(container, cash_out_id).attempts == 2
    assert available(container, client_id) == 90_00
    assert settlement_problems(container.db, [cash_out_id]) == []


class LockOrder(WatchStatements):
    """The tables the statements run meanwhile lock or write, in the order they first do."""

    def __init__(self, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(container.db.engine, monkeypatch)
        self.tables: list[str] = []

    def seen(self, sql: str) -> None:
        for table in ("ACCOUNTS", "DAILY_USAGE"):
            locks = sql.startswith(f"UPDATE {table} ") or (
                f"FROM {table} " in sql and "FOR UPDATE" in sql
            )
            if locks and table not in self.tables:
                self.tables.append(table)


def test_a_failed_payment_locks_the_accounts_before_the_daily_limit_as_acceptance_does(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settlement that fails a payment gives back its balance and its share of the daily
    limit. Done in the other order from acceptance (accounts, then the daily limit), the
    two deadlock on PostgreSQL when the client pays out again meanwhile: the worker's
    batch was the victim and its jobs waited for their leases."""
    with LockOrder(container, monkeypatch) as accepting:
        client_id, (cash_out_id,) = accept_many(container, 1)
    only_due(container, clock, [cash_out_id])
    rail = ScriptedRail()
    rail.on_submit = [lambda o: RailStatus(RailState.REJECTED, o.end_to_end_id, reason="AC03")]
    with LockOrder(container, monkeypatch) as settling:
        assert scripted_service(container, clock, rail).run_due() == 1
    assert status_of(container, cash_out_id) is CashOutStatus.FAILED
    expected = ["ACCOUNTS", "DAILY_USAGE"]
    # On SQLite, where BEGIN IMMEDIATE excludes every other writer, {lock} is no FOR
    # UPDATE and the day's first acceptance inserts its usage row: accounts only.
    assert accepting.tables == ["ACCOUNTS"] if container.db.is_sqlite else expected
    assert settling.tables == expected
    with container.db.transaction(write=False) as tx:
        used = tx.conn.execute(
            select(t.daily_usage.c.amount).where(t.daily_usage.c.client_id == client_id)
        ).scalar_one()
    assert used == 0  # the limit came back
