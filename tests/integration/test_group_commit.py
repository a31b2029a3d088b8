"""Acceptance as a group commit: many requests decided in one transaction, each exactly as
it would have been decided alone, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from connectpsp.bootstrap import Container, build
from connectpsp.domain.cashout import AcceptedCashOut, CashOutRequest, Payee, PixDestination
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import (
    ConnectPSPError,
    IdempotencyKeyInUse,
    IdempotencyKeyMismatch,
)
from connectpsp.domain.ledger import FeePlan, client_account_code
from connectpsp.domain.pix import PixKeyType
from connectpsp.service.acceptance import Accepted, Decided, Submission
from connectpsp.settings import Settings
from tests.support import FakeClock

PAYEE = Payee("Maria Silva", "12345678909", PixDestination(PixKeyType.CPF, "12345678909"))


def request(amount: int, reference: str | None = None) -> CashOutRequest:
    return CashOutRequest(
        amount=amount,
        external_reference=reference or f"r-{uuid.uuid4().hex[:10]}",
        description=None,
        webhook_url=None,
        payee=PAYEE,
    )


@dataclass(frozen=True)
class Reply:
    """A decided request in brief: 202 and the cash-out's id, or 422 and the refusal's code."""

    status: int
    body: bytes
    replayed: bool = False


def as_reply(decided: Decided[AcceptedCashOut]) -> Reply:
    if isinstance(decided.outcome, Accepted):
        return Reply(202, decided.outcome.result.id.encode(), decided.replayed)
    return Reply(422, decided.outcome.error.code.encode(), decided.replayed)


def create(container: Container, payer: Client, key: str, body: CashOutRequest) -> Reply:
    return as_reply(container.cash_outs.create(payer, key, body))


def client(
    container: Container, *, funds: int, fee: int = 0, daily_limit: int | None = None
) -> Client:
    creds = container.clients.create("batch", fee_plan=FeePlan(fixed=fee), daily_limit=daily_limit)
    container.clients.fund(creds.client_id, funds)
    return container.clients.get(creds.client_id)


@contextmanager
def one_batch(
    container: Container,
) -> Iterator[Callable[..., Future[Decided[AcceptedCashOut]]]]:
    """Requests submitted inside the block are decided together, in one transaction:
    the writer is held on a first, throwaway request until the block ends. The write
    transactions the service opens are counted in ``container.transactions``."""
    engine = container.engine
    gate = threading.Event()
    entered = threading.Event()
    real = engine._uow
    transactions: list[int] = []
    container.transactions = transactions  # type: ignore[attr-defined]

    def gated(**kwargs: Any) -> Any:
        if kwargs.get("write"):
            transactions.append(1)
            if len(transactions) == 1:
                entered.set()
                gate.wait(10)
        return real(**kwargs)

    # Left in place: it only counts once the gate is open (each test has its own container).
    engine._uow = gated
    try:
        holder = client(container, funds=1_00)
        container.cash_outs.submit(holder, "hold", request(1_00))
        assert entered.wait(10)
        yield container.cash_outs.submit
    finally:
        gate.set()


def outcome(future: Future[Decided[AcceptedCashOut]]) -> Reply | BaseException:
    try:
        return as_reply(future.result(10))
    except BaseException as error:
        return error


def available(container: Container, c: Client) -> int:
    with container.uow() as uow:
        return uow.ledger.balance(client_account_code(c.id)).available


@pytest.fixture
def container(db_settings: Settings) -> Iterator[Container]:
    built = build(db_settings, clock=FakeClock())
    yield built
    built.close()


def test_a_batch_decides_each_request_as_if_alone(container: Container) -> None:
    rich = client(container, funds=100_00, fee=1_00)
    poor = client(container, funds=15_00)
    capped = client(container, funds=100_00, daily_limit=25_00)
    earlier = create(container, poor, "before", request(5_00, "taken-ref"))
    assert earlier.status == 202
    with one_batch(container) as submit:
        futures = {
            # 10.00 + 1.00 fee, four times: the fourth finds 100 - 3 x 11 = 67 left, fine
            **{f"rich-{n}": submit(rich, f"rich-{n}", request(10_00)) for n in range(4)},
            # poor has 10.00 left after "before": the second 6.00 no longer fits
            "poor-1": submit(poor, "poor-1", request(6_00)),
            "poor-2": submit(poor, "poor-2", refused := request(6_00)),
            "poor-dup-ref": submit(poor, "poor-3", request(1_00, "taken-ref")),
            "poor-replay": submit(poor, "before", request(5_00, "taken-ref")),
            "poor-mismatch": submit(poor, "before", request(7_00, "taken-ref")),
            # capped: 20.00 fits the 25.00 daily limit, the next 10.00 does not, 5.00 does
            "capped-1": submit(capped, "capped-1", request(20_00)),
            "capped-2": submit(capped, "capped-2", request(10_00)),
            "capped-3": submit(capped, "capped-3", request(5_00)),
            # a reference used twice inside the batch: the first wins
            "same-ref-1": submit(rich, "same-1", request(1_00, "twice")),
            "same-ref-2": submit(rich, "same-2", request(1_00, "twice")),
        }
    got = {name: outcome(f) for name, f in futures.items()}
    assert len(container.transactions) == 2  # type: ignore[attr-defined] # the hold, the batch
    for name in ("rich-0", "rich-1", "rich-2", "rich-3", "poor-1", "capped-1", "capped-3"):
        reply = got[name]
        assert isinstance(reply, Reply) and reply.status == 202, (name, reply)
    assert got["same-ref-1"].status == 202  # type: ignore[union-attr]
    refusals = {
        "poor-2": b"INSUFFICIENT_BALANCE",
        "poor-dup-ref": b"DUPLICATE_EXTERNAL_REFERENCE",
        "capped-2": b"LIMIT_EXCEEDED",
        "same-ref-2": b"DUPLICATE_EXTERNAL_REFERENCE",
    }
    for name, code in refusals.items():
        assert got[name] == Reply(422, code), name
    # Replays and mismatches, of another batch's key (the one in the same batch is 409).
    assert got["poor-replay"] == Reply(202, earlier.body, replayed=True)
    mismatch = got["poor-mismatch"]
    assert isinstance(mismatch, IdempotencyKeyInUse | IdempotencyKeyMismatch)
    assert available(container, rich) == 100_00 - 4 * 11_00 - 2_00
    assert available(container, poor) == 15_00 - 5_00 - 6_00
    assert available(container, capped) == 100_00 - 25_00
    # Refusals are stored against their keys too: a retry gets the same bytes.
    again = create(container, poor, "poor-2", refused)
    assert again == Reply(422, b"INSUFFICIENT_BALANCE", replayed=True)


class Exploding:
    """A flow with a bug: deciding any of its requests raises."""

    name = "exploding"
    refusals: tuple[type[ConnectPSPError], ...] = ()
    secret = False

    def load(self, uow: Any, batch: Any, now: Any) -> None:
        return None

    def decide(self, state: None, submission: Submission[str], now: Any) -> str:
        raise RuntimeError("a bug in one request's flow")

    def write(self, uow: Any, state: None, now: Any) -> None:
        pass

    def record(self, result: str) -> dict[str, Any]:
        return {}

    def restore(self, record: dict[str, Any]) -> str:
        return ""

    def committed(self, results: list[str]) -> None:
        pass


def test_a_request_that_breaks_fails_alone(container: Container) -> None:
    payer = client(container, funds=100_00)
    with one_batch(container) as submit:
        good = [submit(payer, f"good-{n}", request(1_00)) for n in range(5)]
        bad = container.engine.submit(Exploding(), payer, "bad", "boom")
        more = [submit(payer, f"more-{n}", request(1_00)) for n in range(5)]
    assert all(outcome(f) == Reply(202, outcome(f).body) for f in good + more)  # type: ignore[union-attr]
    with pytest.raises(RuntimeError):
        bad.result(10)
    assert available(container, payer) == 100_00 - 10 * 1_00
    retried = create(container, payer, "bad", request(1_00))
    assert retried.status == 202 and not retried.replayed  # nothing was stored for it


def test_a_key_in_flight_is_told_so(container: Container) -> None:
    payer = client(container, funds=100_00)
    with one_batch(container) as submit:
        first = submit(payer, "k", request(1_00, "once"))
        second = submit(payer, "k", request(1_00, "once"))
        assert isinstance(outcome(second), IdempotencyKeyInUse)  # at once, not queued
    assert outcome(first).status == 202  # type: ignore[union-attr]
    replay = create(container, payer, "k", request(1_00, "once"))
    assert replay.replayed and replay.body == outcome(first).body  # type: ignore[union-attr]


def test_two_processes_racing_on_one_key_make_one_cash_out(db_settings: Settings) -> None:
    """Two containers stand for two API processes on one database. On PostgreSQL the
    loser's batch meets the winner's key, runs again, and replays the winner's answer; on
    SQLite the write lock orders them and the second simply replays."""
    first, second = build(db_settings, clock=FakeClock()), build(db_settings, clock=FakeClock())
    try:
        payer = client(first, funds=100_00)
        for n in range(20):
            body = request(1_00, f"race-{n}")
            a = first.cash_outs.submit(payer, f"race-{n}", body)
            b = second.cash_outs.submit(payer, f"race-{n}", body)
            replies = [outcome(a), outcome(b)]
            assert all(isinstance(r, Reply) for r in replies), replies
            assert replies[0].body == replies[1].body  # type: ignore[union-attr]
            assert sorted(r.replayed for r in replies) == [False, True]  # type: ignore[union-attr]
        assert available(first, payer) == 100_00 - 20 * 1_00
    finally:
        first.close()
        second.close()


class StartTogether:
    """Holds the first write transaction each container opens in a round until the other
    container has opened one too, so the two processes' transactions truly race."""

    def __init__(self, containers: list[Container]) -> None:
        self._door = threading.Barrier(len(containers))
        self._waited: set[int] = set()
        self._lock = threading.Lock()
        self.met = 0
        for index, container in enumerate(containers):
            container.engine._uow = self._gate(index, container.engine._uow)

    def next_round(self) -> None:
        self._door.reset()
        self._waited.clear()

    def _gate(self, index: int, real: Callable[..., Any]) -> Callable[..., Any]:
        def gated(**kwargs: Any) -> Any:
            with self._lock:
                first = kwargs.get("write") and index not in self._waited
                self._waited.add(index)
            if first:
                try:
                    self._door.wait(10)
                    with self._lock:
                        self.met += 1
                except threading.BrokenBarrierError:  # pragma: no cover - reported below
                    pass
            return real(**kwargs)

        return gated


def test_two_processes_racing_for_one_balance_accept_exactly_what_fits(
    db_settings: Settings,
) -> None:
    """Two containers stand for two API processes on one database. Threads released
    together send cash-outs through both at one balance with room for exactly ``room``:
    exactly that many are accepted, the rest refused, and nothing is left or overdrawn,
    whether the two batches' transactions meet on PostgreSQL's row locks or on SQLite's
    write lock."""
    containers = [build(db_settings, clock=FakeClock()) for _ in range(2)]
    together = StartTogether(containers)
    room, sent, rounds = 7, 24, 4
    try:
        with ThreadPoolExecutor(max_workers=sent) as pool:
            for round_ in range(rounds):
                together.next_round()
                payer = client(containers[0], funds=room * 1_00)
                go = threading.Barrier(sent)

                def fire(n: int, payer: Client = payer, go: threading.Barrier = go) -> Any:
                    go.wait(10)
                    service = containers[n % 2].cash_outs
                    return outcome(service.submit(payer, f"k-{n}", request(1_00)))

                replies = list(pool.map(fire, range(sent)))
                assert all(isinstance(r, Reply) for r in replies), (round_, replies)
                statuses = sorted((r.status, r.body) for r in replies if r.status != 202)
                accepted = [r for r in replies if r.status == 202]
                assert len(accepted) == room, (round_, statuses)
                assert statuses == [(422, b"INSUFFICIENT_BALANCE")] * (sent - room), round_
                for container in containers:
                    assert available(container, payer) == 0
                with containers[1].uow() as uow:
                    code = client_account_code(payer.id)
                    balance = uow.ledger.balance(code)
                    assert balance == uow.ledger.summed_balance(code)
                    assert balance.reserved == room * 1_00
        assert together.met == 2 * rounds  # both processes' writers met at the door each round
    finally:
        for container in containers:
            container.close()


def test_a_key_is_kept_for_its_retention_then_forgotten(container: Container) -> None:
    payer = client(container, funds=100_00)
    clock = container.clock
    assert isinstance(clock, FakeClock)
    first = create(container, payer, "kept", request(1_00, "kept-1"))
    retention = timedelta(hours=48)
    clock.advance(hours=47)
    assert container.engine.forget_older_than(retention) == 0
    assert create(container, payer, "kept", request(1_00, "kept-1")).replayed
    young = create(container, payer, "young", request(1_00, "young-1"))
    clock.advance(hours=2)
    # The module's database is shared: other tests' keys are as old as "kept" and go too.
    assert container.engine.forget_older_than(retention) >= 1
    again = create(container, payer, "kept", request(1_00, "kept-2"))
    assert again.status == 202 and not again.replayed and again.body != first.body
    still = create(container, payer, "young", request(1_00, "young-1"))
    assert still.replayed and still.body == young.body


def test_a_daily_limit_of_zero_is_a_limit_not_the_default(container: Container) -> None:
    """``clients.create`` once read an explicit 0 as "not given" and gave the default."""
    blocked = client(container, funds=100_00, daily_limit=0)
    assert blocked.daily_limit == 0
    refused = create(container, blocked, "zero", request(1_00))
    assert refused == Reply(422, b"LIMIT_EXCEEDED")
    assert available(container, blocked) == 100_00


def test_the_fee_counts_against_the_balance_inside_one_batch(container: Container) -> None:
    """Two 10.00 cash-outs with a 1.00 fee from 21.00, decided together: the first takes
    11.00, so the second finds 10.00, short of its 11.00. The batch's own check refuses
    it; the database's CHECK (a rollback and a rerun one by one) never has to."""
    payer = client(container, funds=21_00, fee=1_00)
    with one_batch(container) as submit:
        first = submit(payer, "fee-1", request(10_00))
        second = submit(payer, "fee-2", request(10_00))
    accepted, refused = outcome(first), outcome(second)
    assert isinstance(accepted, Reply) and accepted.status == 202, accepted
    assert refused == Reply(422, b"INSUFFICIENT_BALANCE")
    assert len(container.transactions) == 2  # type: ignore[attr-defined] # the hold, the batch
    assert available(container, payer) == 10_00
    with container.uow() as uow:
        assert uow.ledger.balance(client_account_code(payer.id)).reserved == 11_00
