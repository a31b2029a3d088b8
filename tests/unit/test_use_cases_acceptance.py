"""The acceptance engine's rules over in-memory fakes, in milliseconds: a batch decided in
order in one transaction, replays, key mismatches and keys in flight, what is stored and
what is not, conflicts with another writer, and outcomes that hold a secret. The same
rules on SQLite and PostgreSQL: tests/integration/test_group_commit.py."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from connectpsp.domain.cashout import AcceptedCashOut, BankAccount, Payee
from connectpsp.domain.errors import (
    ConnectPSPError,
    IdempotencyKeyInUse,
    IdempotencyKeyMismatch,
    LedgerViolation,
    NotFound,
    StorageConflict,
    StorageUnavailable,
)
from connectpsp.domain.pix import AccountType
from connectpsp.service.acceptance import AcceptanceEngine, Accepted, Decided, Submission
from connectpsp.service.cashouts import CashOutService
from connectpsp.service.ports import UnitOfWork
from tests.fakes import PAYEE, AcceptAll, Services, fake_services, one_batch, request

Reply = tuple[str, str, bool]  # ("accepted", cash-out id | "refused", code, replayed)


@pytest.fixture
def s() -> Iterator[Services]:
    with fake_services() as services:
        yield services


def reply(decided: Decided[AcceptedCashOut]) -> Reply:
    if isinstance(decided.outcome, Accepted):
        return ("accepted", decided.outcome.result.id, decided.replayed)
    return ("refused", decided.outcome.error.code, decided.replayed)


def outcome(future: Future[Decided[AcceptedCashOut]]) -> Reply | BaseException:
    try:
        return reply(future.result(5))
    except BaseException as error:
        return error


def available(s: Services, client_id: str) -> int:
    return s.clients.balance(client_id).available


def test_a_batch_is_decided_in_order_in_one_transaction_each_request_as_if_alone(
    s: Services,
) -> None:
    rich = s.client(funds=100_00, fee=1_00)
    poor = s.client(funds=15_00)
    capped = s.client(funds=100_00, daily_limit=25_00)
    earlier = reply(s.cash_outs.create(poor, "before", request(5_00, "taken-ref")))
    before = s.db.write_transactions
    with one_batch(s.engine, s.db, rich):
        submit = s.cash_outs.submit
        futures = {
            # 10.00 + 1.00 fee, four times from 100.00: all fit
            **{f"rich-{n}": submit(rich, f"rich-{n}", request(10_00)) for n in range(4)},
            # 10.00 left after "before": the second 6.00 no longer fits
            "poor-1": submit(poor, "poor-1", request(6_00)),
            "poor-2": submit(poor, "poor-2", request(6_00)),
            "poor-dup-ref": submit(poor, "poor-3", request(1_00, "taken-ref")),
            "poor-replay": submit(poor, "before", request(5_00, "taken-ref")),
            # 20.00 fits the 25.00 day, 10.00 more does not, 5.00 does
            "capped-1": submit(capped, "capped-1", request(20_00)),
            "capped-2": submit(capped, "capped-2", request(10_00)),
            "capped-3": submit(capped, "capped-3", request(5_00)),
            # one reference twice in the batch: the first wins
            "same-ref-1": submit(rich, "same-1", request(1_00, "twice")),
            "same-ref-2": submit(rich, "same-2", request(1_00, "twice")),
        }
    answers = {name: outcome(future) for name, future in futures.items()}
    got = {name: r for name, r in answers.items() if isinstance(r, tuple)}
    assert got == answers  # none raised
    assert s.db.write_transactions - before == 2  # the hold, then the whole batch
    assert {name: r[0] for name, r in got.items()} == {
        **{f"rich-{n}": "accepted" for n in range(4)},
        "poor-1": "accepted",
        "poor-2": "refused",
        "poor-dup-ref": "refused",
        "poor-replay": "accepted",
        "capped-1": "accepted",
        "capped-2": "refused",
        "capped-3": "accepted",
        "same-ref-1": "accepted",
        "same-ref-2": "refused",
    }
    assert [got[n][1] for n in ("poor-2", "poor-dup-ref", "capped-2", "same-ref-2")] == [
        "INSUFFICIENT_BALANCE",
        "DUPLICATE_EXTERNAL_REFERENCE",
        "LIMIT_EXCEEDED",
        "DUPLICATE_EXTERNAL_REFERENCE",
    ]
    assert got["poor-replay"] == (earlier[0], earlier[1], True)
    assert available(s, rich.id) == 100_00 - 4 * 11_00 - 2_00  # and "twice": 1.00 + fee
    assert available(s, poor.id) == 15_00 - 5_00 - 6_00
    assert available(s, capped.id) == 100_00 - 25_00
    assert s.wakes.count("settle") == 2  # once for "before", once for the batch


@pytest.mark.parametrize(
    ("funds", "daily_limit", "taken", "expected"),
    [
        (100_00, None, False, "accepted"),
        (5_00, None, False, "INSUFFICIENT_BALANCE"),
        (100_00, 5_00, False, "LIMIT_EXCEEDED"),
        (100_00, None, True, "DUPLICATE_EXTERNAL_REFERENCE"),
    ],
)
def test_a_retry_gets_the_first_outcome_and_changes_nothing(
    s: Services, funds: int, daily_limit: int | None, taken: bool, expected: str
) -> None:
    payer = s.client(funds=funds, daily_limit=daily_limit)
    if taken:
        s.cash_outs.create(payer, "first-use", request(1_00, "ref"))
    body = request(10_00, "ref")
    first = reply(s.cash_outs.create(payer, "k", body))
    assert expected in first
    # Enough money and a new day now: a fresh request would be accepted, the retry is not.
    s.clients.fund(payer.id, 1_000_00)
    s.clock.advance(days=1)
    before = written(s)
    again = reply(s.cash_outs.create(payer, "k", body))
    assert again == (first[0], first[1], True)
    assert written(s) == before


def written(s: Services) -> tuple[int, ...]:
    t = s.db.committed
    return len(t.cash_outs), len(t.jobs), len(t.transfers), len(t.daily_usage), len(s.wakes)


@pytest.mark.parametrize(
    "differs",
    [
        {"amount": 10_01},
        {"external_reference": "other"},
        {"description": "a note"},
        {"webhook_url": "https://hooks.example/x"},
        {"payee": Payee("Maria Souza", PAYEE.document, PAYEE.destination)},
        {
            "payee": Payee(
                PAYEE.name,
                PAYEE.document,
                BankAccount("18236120", "0001", "947710840", AccountType.PAYMENT),
            )
        },
    ],
    ids=["amount", "reference", "description", "webhook-url", "payee-name", "destination"],
)
def test_another_request_with_a_used_key_is_a_mismatch(
    s: Services, differs: dict[str, Any]
) -> None:
    payer = s.client(funds=100_00)
    body = request(10_00, "ref")
    first = reply(s.cash_outs.create(payer, "k", body))
    with pytest.raises(IdempotencyKeyMismatch):
        s.cash_outs.create(payer, "k", replace(body, **differs))
    assert len(s.db.committed.cash_outs) == 1 and available(s, payer.id) == 90_00
    # The key is the client's own: another client's "k" is another request altogether.
    other = s.client(funds=100_00)
    assert reply(s.cash_outs.create(other, "k", body))[0] == "accepted"
    assert reply(s.cash_outs.create(payer, "k", body)) == (first[0], first[1], True)


def test_a_key_used_on_another_route_is_a_mismatch(s: Services) -> None:
    payer = s.client(funds=100_00)
    s.cash_outs.create(payer, "k", request(1_00))
    with pytest.raises(IdempotencyKeyMismatch):
        s.endpoints.create_endpoint(payer, "https://hooks.example/x", None, "k").result(5)
    assert s.db.committed.endpoints == {}


def test_a_key_in_flight_is_told_so_at_once(s: Services) -> None:
    payer = s.client(funds=100_00)
    body = request(1_00, "once")
    with one_batch(s.engine, s.db, payer):
        first = s.cash_outs.submit(payer, "k", body)
        second = s.cash_outs.submit(payer, "k", body)
        assert isinstance(outcome(second), IdempotencyKeyInUse)  # not queued behind it
        assert not first.done()
    accepted = outcome(first)
    assert isinstance(accepted, tuple) and accepted[0] == "accepted"
    assert reply(s.cash_outs.create(payer, "k", body)) == (accepted[0], accepted[1], True)


def test_an_error_that_is_not_a_refusal_stores_nothing(s: Services) -> None:
    """Rotating an endpoint the client does not have is NOT_FOUND, which is not one of
    the flow's stored refusals: the key stays free for the next request."""
    payer = s.client(funds=100_00)
    with pytest.raises(NotFound):
        s.endpoints.rotate_secret(payer, "no-such-endpoint", "k").result(5)
    assert s.db.committed.idempotency == {}
    assert reply(s.cash_outs.create(payer, "k", request(1_00)))[0] == "accepted"


def test_a_request_whose_flow_cannot_load_fails_and_stores_nothing(s: Services) -> None:
    payer = s.client(funds=100_00)
    with s.db(write=True) as uow:  # the client's ledger account is gone: a broken database
        del uow.tables.accounts[f"client:{payer.id}:available"]
        uow.commit()
    with pytest.raises(LedgerViolation):
        s.cash_outs.create(payer, "k", request(1_00))
    assert s.db.committed.idempotency == {} and s.db.committed.cash_outs == {}


class Exploding:
    """A flow with a bug: deciding any of its requests raises."""

    name = "exploding"
    refusals: tuple[type[ConnectPSPError], ...] = ()
    secret = False

    def load(self, uow: UnitOfWork, batch: Any, now: Any) -> None:
        return None

    def decide(self, state: None, submission: Submission[str], now: Any) -> str:
        raise RuntimeError("a bug in one request's flow")

    def write(self, uow: UnitOfWork, state: None, now: Any) -> None:
        pass

    def record(self, result: str) -> dict[str, Any]:
        return {}

    def restore(self, record: dict[str, Any]) -> str:
        return ""

    def committed(self, results: list[str]) -> None:
        pass


def test_a_request_that_raises_fails_alone(s: Services) -> None:
    payer = s.client(funds=100_00)
    with one_batch(s.engine, s.db, payer):
        good = [s.cash_outs.submit(payer, f"good-{n}", request(1_00)) for n in range(3)]
        bad = s.engine.submit(Exploding(), payer, "bad", "boom")
        more = [s.cash_outs.submit(payer, f"more-{n}", request(1_00)) for n in range(3)]
    replies = [outcome(f) for f in good + more]
    assert all(isinstance(r, tuple) and r[0] == "accepted" for r in replies), replies
    with pytest.raises(RuntimeError):
        bad.result(5)
    assert available(s, payer.id) == 100_00 - 6 * 1_00
    retried = reply(s.cash_outs.create(payer, "bad", request(1_00)))
    assert retried[0] == "accepted" and not retried[2]  # nothing was stored for it


@pytest.mark.parametrize("same_key", [True, False], ids=["same-key", "same-reference"])
def test_a_batch_that_meets_another_writer_runs_again_and_sees_its_rows(
    s: Services, same_key: bool
) -> None:
    """Another process (an engine of its own on the same database) commits the same
    request, or another with the same reference, while this batch is open: this batch's
    commit conflicts, it runs again, and replays the other's answer or refuses the
    reference."""
    payer = s.client(funds=100_00)
    body = request(10_00, "race")
    other = AcceptanceEngine(s.db, clock=s.clock, cipher=s.cipher)
    theirs: list[Reply] = []
    s.db.meanwhile(
        lambda: theirs.append(
            reply(
                CashOutService(s.db, engine=other, screener=s.screener).create(
                    payer, "k" if same_key else "j", body
                )
            )
        )
    )
    try:
        before = s.db.write_transactions
        mine = reply(s.cash_outs.create(payer, "k", body))
    finally:
        other.close()
    assert s.db.write_transactions - before == 3  # ours, theirs, ours again
    assert theirs[0][0] == "accepted"
    if same_key:
        assert mine == (theirs[0][0], theirs[0][1], True)
    else:
        assert mine == ("refused", "DUPLICATE_EXTERNAL_REFERENCE", False)
    assert len(s.db.committed.cash_outs) == 1 and available(s, payer.id) == 90_00


def test_a_batch_that_keeps_conflicting_is_run_one_by_one_then_given_up(s: Services) -> None:
    payer = s.client(funds=100_00)
    runs: list[int] = []

    def another_writer_commits() -> None:
        runs.append(1)
        with s.db(write=True) as uow:
            uow.commit()
        s.db.meanwhile(another_writer_commits)  # and again, in the next transaction

    with one_batch(s.engine, s.db, payer):
        s.db.meanwhile(another_writer_commits)
        futures = [s.cash_outs.submit(payer, f"k-{n}", request(1_00)) for n in range(2)]
    assert all(isinstance(outcome(f), StorageConflict) for f in futures)
    # Three tries each: the hold, the batch of two, then each of the two alone.
    assert len(runs) == 3 + 3 + 3 + 3
    assert s.db.committed.cash_outs == {} and s.db.committed.idempotency == {}
    assert available(s, payer.id) == 100_00


def test_an_unreachable_database_answers_every_request_of_the_batch_and_stores_nothing(
    s: Services,
) -> None:
    payer = s.client(funds=100_00)
    transactions: list[int] = []

    def database_goes_away() -> None:
        transactions.append(1)
        if len(transactions) == 1:  # the hold's transaction: the next one is the batch's
            s.db.meanwhile(database_goes_away)
        else:
            raise StorageUnavailable()

    with one_batch(s.engine, s.db, payer):
        s.db.meanwhile(database_goes_away)
        futures = [s.cash_outs.submit(payer, f"k-{n}", request(1_00)) for n in range(3)]
    assert all(isinstance(outcome(f), StorageUnavailable) for f in futures)
    assert len(transactions) == 2  # not run again: the database, not a race
    assert s.db.committed.idempotency == {} and s.db.committed.cash_outs == {}
    retried = reply(s.cash_outs.create(payer, "k-0", request(1_00)))
    assert retried[0] == "accepted" and not retried[2]


def test_an_outcome_with_a_secret_is_stored_encrypted_and_replayed_identically(
    s: Services,
) -> None:
    owner = s.client()
    created = s.endpoints.create_endpoint(owner, "https://hooks.example/a", None, "reg").result(5)
    assert isinstance(created.outcome, Accepted) and not created.replayed
    endpoint = created.outcome.result
    (stored,) = s.db.committed.idempotency.values()
    assert stored[0].outcome.startswith(b"enc:")
    assert endpoint.secret.encode() not in stored[0].outcome
    again = s.endpoints.create_endpoint(owner, "https://hooks.example/a", None, "reg").result(5)
    assert again.replayed and again.outcome == created.outcome  # the same id and secret
    assert len(s.db.committed.endpoints) == 1
    rotated = s.endpoints.rotate_secret(owner, endpoint.id, "rot").result(5)
    retried = s.endpoints.rotate_secret(owner, endpoint.id, "rot").result(5)
    assert retried.replayed and retried.outcome == rotated.outcome
    assert isinstance(rotated.outcome, Accepted)
    row = s.db.committed.endpoints[endpoint.id].endpoint
    secret = s.cipher.decrypt(row.secret_enc, context=f"webhook-endpoint:{endpoint.id}")
    assert secret == rotated.outcome.result.secret  # rotated once, not twice
    # Sealed under its own key's context: the ciphertext opens for that slot only.
    with pytest.raises(Exception):  # noqa: B017 - the cipher's authentication failure
        s.cipher.decrypt(
            stored[0].outcome.decode().removeprefix("enc:"), context=f"idempotency:{owner.id}:rot"
        )
    opened = s.cipher.decrypt(
        stored[0].outcome.decode().removeprefix("enc:"), context=f"idempotency:{owner.id}:reg"
    )
    assert json.loads(opened)["accepted"]["secret"] == endpoint.secret


def test_a_key_is_kept_for_its_retention_then_forgotten(s: Services) -> None:
    payer = s.client(funds=100_00)
    body = request(1_00, "kept-1")
    first = reply(s.cash_outs.create(payer, "kept", body))
    retention = timedelta(hours=48)
    s.clock.advance(hours=47)
    assert s.engine.forget_older_than(retention) == 0
    young = reply(s.cash_outs.create(payer, "young", request(1_00, "young-1")))
    s.clock.advance(hours=2)
    assert s.engine.forget_older_than(retention) == 1
    again = reply(s.cash_outs.create(payer, "kept", request(1_00, "kept-2")))
    assert again[0] == "accepted" and not again[2] and again[1] != first[1]
    assert reply(s.cash_outs.create(payer, "young", request(1_00, "young-1"))) == (
        young[0],
        young[1],
        True,
    )


def test_a_closed_engine_takes_no_more_requests(s: Services) -> None:
    payer = s.client(funds=100_00)
    queued = s.cash_outs.submit(payer, "last", request(1_00))
    s.engine.close()
    assert isinstance(outcome(queued), tuple)  # what was queued is decided first
    with pytest.raises(StorageUnavailable):
        s.cash_outs.submit(payer, "late", request(1_00))


class Grouped(AcceptAll):
    """Accepts anything, and keeps how many requests each transaction decided."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def load(self, uow: UnitOfWork, batch: Sequence[Submission[str]], now: datetime) -> None:
        self.sizes.append(len(batch))


def test_a_transaction_stops_taking_requests_once_it_holds_max_weight_of_work(
    s: Services,
) -> None:
    """A bulk request weighs its items: many of them at once never make one transaction of
    hundreds of thousands of items. The request that reaches the weight is taken whole."""
    engine = AcceptanceEngine(s.db, clock=s.clock, cipher=s.cipher, max_weight=10)
    flow = Grouped()
    client = s.client()
    weights = [4, 4, 4, 1, 6, 6, 1]
    with one_batch(engine, s.db, client):
        futures = [
            engine.submit(flow, client, f"key-{n}", f"request-{n}", weight=w)
            for n, w in enumerate(weights)
        ]
    assert [f.result(5).outcome for f in futures] == [
        Accepted(f"request-{n}") for n in range(len(weights))
    ]
    assert flow.sizes == [3, 3, 1]  # 4+4+4, then 1+6+6, then 1
    engine.close()
