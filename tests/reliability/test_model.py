"""Model-based test (TigerBeetle's simulator, Jepsen's bank): Hypothesis drives the real
services on a real database through cash-outs (valid, invalid, retried), funding,
settlement with every outcome, worker deaths and restarts, and reads; every reply is
compared with a pure-Python model, and the invariants are checked after every step.

``CONNECTPSP_MODEL_EXAMPLES`` raises the number of examples (``make reliability``); below
``MIN_EXAMPLES`` a run cannot be trusted to settle and fail anything (Hypothesis starts with
its simplest examples and switches rules off in others), so that is the floor.

Time moves only when the test moves it (``SteppedClock``), and the model counts the daily
limit by business day in São Paulo, as the service does: the ``late_evening`` rule takes
the clock to a minute before midnight, so that sequences cross into the next day."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from connectpsp.adapters.crypto import Argon2Hasher
from connectpsp.adapters.participants import load_participants
from connectpsp.api.schemas import parse_cash_out
from connectpsp.bootstrap import build
from connectpsp.domain.cashout import AcceptedCashOut
from connectpsp.domain.clock import SAO_PAULO, business_date
from connectpsp.domain.errors import (
    IdempotencyKeyMismatch,
    InsufficientBalance,
    LimitExceeded,
    ValidationFailed,
)
from connectpsp.domain.ledger import FeePlan, client_account_code
from connectpsp.service.acceptance import Accepted, Decided
from connectpsp.settings import Settings
from tests.invariants import ledger_problems
from tests.support import FakeClock, database

MIN_EXAMPLES = 25
EXAMPLES = max(MIN_EXAMPLES, int(os.environ.get("CONNECTPSP_MODEL_EXAMPLES", "25")))
SHRINK = "CONNECTPSP_MODEL_EXAMPLES" in os.environ
# Where each destination ends: COMPLETED, or FAILED with this failure code.
DESTINATIONS: dict[str, str | None] = {
    "947710840": None,
    "9901": "INVALID_ACCOUNT",
    "9902": "ACCOUNT_BLOCKED",
    "9903": "ACCOUNT_CLOSED",
    "9904": "INVALID_ACCOUNT_TYPE",
    "9906": "AMOUNT_LIMIT_EXCEEDED",
    "9907": "DOCUMENT_MISMATCH",
    "9909": "SETTLEMENT_TIMEOUT",
    "9910": "RECEIVER_ERROR",
    "9911": "REJECTED_BY_RECEIVER",
    "9912": "SANCTIONED_PARTY",
    "9913": "PAYMENT_FAILED",
    "9999": None,  # the rail's first answer is lost: reconciled, then COMPLETED
}
DAILY_LIMIT = 300_00
# Half the traffic settles, half fails with one of the reason codes.
ACCOUNTS = st.one_of(
    st.sampled_from([a for a, failure in DESTINATIONS.items() if failure is None]),
    st.sampled_from([a for a, failure in DESTINATIONS.items() if failure is not None]),
)
STATS: Counter[str] = Counter()  # what the run exercised, so a vacuous run cannot pass
FEE = 7
# The model never checks a secret: argon2id at its cheapest keeps an example's cost in
# the service rather than in hashing two client secrets.
CHEAP = Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1)


class SteppedClock(FakeClock):
    """A clock that stands still until the test advances it: the model and the service
    then agree on the business day of every request, and a run does not depend on the
    time of day it starts at."""

    def __init__(self) -> None:
        super().__init__()
        self.start = datetime.now(UTC)

    def now(self) -> datetime:
        return self.start + self.offset


@dataclass
class ModelCashOut:
    total: int  # amount + fee
    amount: int
    failure: str | None
    day: date  # the business day whose limit it counts against
    status: str = "PROCESSING"


@dataclass
class ModelClient:
    id: str
    available: int = 0
    used: Counter[date] = field(default_factory=Counter)  # daily limit used, by business day
    cash_outs: dict[str, ModelCashOut] = field(default_factory=dict)  # by internal code
    replies: dict[str, tuple[str, int, bytes]] = field(
        default_factory=dict
    )  # key -> fingerprint, status, body

    @property
    def reserved(self) -> int:
        return sum(c.total for c in self.cash_outs.values() if c.status == "PROCESSING")


@dataclass(frozen=True)
class Reply:
    """A decided request in brief: 202 and the internal code, or 422 and the code."""

    status: int
    body: bytes
    replayed: bool


def reply_of(decided: Decided[AcceptedCashOut]) -> Reply:
    outcome = decided.outcome
    if isinstance(outcome, Accepted):
        return Reply(202, outcome.result.internal_code.encode(), decided.replayed)
    return Reply(422, outcome.error.code.encode(), decided.replayed)


class Bank(RuleBasedStateMachine):
    settings_: Settings
    clock: FakeClock

    def __init__(self) -> None:
        super().__init__()
        self.container = build(self.settings_, clock=self.clock, migrate=False, hasher=CHEAP)
        self.clients: list[ModelClient] = []

    # --- setup and funding -------------------------------------------------------------

    @initialize(opening=st.lists(st.integers(0, 400_00), min_size=2, max_size=2))
    def open_clients(self, opening: list[int]) -> None:
        for amount in opening:
            creds = self.container.clients.create(
                "model", fee_plan=FeePlan(fixed=FEE), daily_limit=DAILY_LIMIT
            )
            client = ModelClient(creds.client_id)
            if amount:
                self.container.clients.fund(client.id, amount)
                client.available = amount
            self.clients.append(client)

    @rule(who=st.integers(0, 1), amount=st.integers(1, 200_00))
    def fund(self, who: int, amount: int) -> None:
        client = self.clients[who]
        self.container.clients.fund(client.id, amount)
        client.available += amount

    # --- cash-outs ---------------------------------------------------------------------

    @rule(
        who=st.integers(0, 1),
        reais=st.integers(1, 150),
        cents=st.integers(0, 99),
        account=ACCOUNTS,
        key=st.sampled_from(["k1", "k2", None]),
        invalid=st.sampled_from([None] * 7 + ["three places", "zero", "bad document"]),
    )
    def create(
        self, who: int, reais: int, cents: int, account: str, key: str | None, invalid: str | None
    ) -> None:
        client = self.clients[who]
        amount_text = f"{reais}.{cents:02d}"
        if invalid == "three places":
            amount_text += "5"
        elif invalid == "zero":
            amount_text = "0.00"
        body = {
            "amount": amount_text,
            "externalReference": f"ref-{reais}-{cents}-{account}-{key or uuid.uuid4().hex}",
            "payee": {
                "name": "Maria Silva",
                "document": "12345678900" if invalid == "bad document" else "12345678909",
                "destination": {
                    "type": "BANK_ACCOUNT",
                    "bankAccount": {
                        "ispb": "18236120",
                        "branch": "0001",
                        "account": account,
                        "accountType": "CHECKING",
                    },
                },
            },
        }
        idempotency_key = key or str(uuid.uuid4())
        full = self.container.clients.get(client.id)
        try:
            request = parse_cash_out(body, load_participants(), full.per_transaction_limit)
        except ValidationFailed:
            assert invalid is not None  # only the invalid ones are refused, and not stored
            return
        assert invalid is None
        # The model's own idea of "the same request": the same body, field for field.
        fingerprint = json.dumps(body, sort_keys=True)
        stored = client.replies.get(idempotency_key)
        try:
            reply = reply_of(self.container.cash_outs.create(full, idempotency_key, request))
        except IdempotencyKeyMismatch:
            assert stored is not None and stored[0] != fingerprint
            return
        if stored is not None:
            assert stored[0] == fingerprint, "a different body was accepted under a used key"
            assert (reply.status, reply.body, reply.replayed) == (stored[1], stored[2], True)
            return
        amount = reais * 100 + cents
        total = amount + FEE
        today = business_date(self.clock.now())
        if total > client.available:
            expected = (422, InsufficientBalance.code.encode())
        elif client.used[today] + amount > DAILY_LIMIT:
            expected = (422, LimitExceeded.code.encode())
        else:
            expected = (202, reply.body)
            client.available -= total
            client.used[today] += amount
            client.cash_outs[reply.body.decode()] = ModelCashOut(
                total, amount, DESTINATIONS[account], today
            )
            STATS["accepted"] += 1
        assert (reply.status, reply.body) == expected
        assert not reply.replayed
        if key is not None:
            client.replies[key] = (fingerprint, reply.status, reply.body)

    # --- the worker --------------------------------------------------------------------

    @rule()
    def drain(self) -> None:
        """The worker runs until nothing is due; every cash-out ends as the model says."""
        for _ in range(20):
            self.clock.advance(minutes=2)  # past any backoff or lease
            if not self.container.settlement.run_due():
                break
        for client in self.clients:
            for code, cash_out in client.cash_outs.items():
                if cash_out.status != "PROCESSING":
                    continue
                cash_out.status = "FAILED" if cash_out.failure else "COMPLETED"
                STATS[cash_out.status] += 1
                if cash_out.failure:
                    client.available += cash_out.total
                    client.used[cash_out.day] -= cash_out.amount
                found = self.container.cash_outs.get(self.container.clients.get(client.id), code)
                assert found.status.value == cash_out.status, (code, found.status)
                assert (found.failure.code if found.failure else None) == cash_out.failure

    @rule(jobs=st.integers(1, 5))
    def worker_dies_after_claiming(self, jobs: int) -> None:
        """A worker claims jobs and dies before running them: their leases must lapse."""
        now = self.clock.now()
        with self.container.uow(write=True) as uow:
            uow.outbox.claim(
                "settle_cash_out", now=now, lease_until=now + timedelta(seconds=30), limit=jobs
            )
            uow.commit()
        self.restart()

    @rule()
    def late_evening(self) -> None:
        """A minute before midnight in São Paulo: the next drain settles today's cash-outs
        tomorrow, and tomorrow's cash-outs count against a fresh daily limit."""
        now = self.clock.now()
        local = now.astimezone(SAO_PAULO)
        target = datetime.combine(local.date() + timedelta(days=1), time(), SAO_PAULO)
        target -= timedelta(minutes=1)
        if target <= now:
            target += timedelta(days=1)
        self.clock.advance(seconds=(target - now).total_seconds())

    @rule()
    def restart(self) -> None:
        """Crash: drop every in-memory thing and open the database again."""
        self.container.close()
        self.container = build(self.settings_, clock=self.clock, migrate=False, hasher=CHEAP)

    # --- reads and invariants ----------------------------------------------------------

    @rule(who=st.integers(0, 1))
    def read_balance(self, who: int) -> None:
        client = self.clients[who]
        balance = self.container.clients.balance(client.id)
        assert (balance.available, balance.reserved) == (client.available, client.reserved)

    @invariant()
    def no_negative_balance_and_reserved_matches_pending(self) -> None:
        for client in self.clients:
            with self.container.uow() as uow:
                balance = uow.ledger.balance(client_account_code(client.id))
            assert balance.available >= 0
            assert balance.reserved == client.reserved

    def teardown(self) -> None:
        self.drain()  # every accepted cash-out is eventually terminal
        for client in self.clients:
            assert all(c.status != "PROCESSING" for c in client.cash_outs.values())
        assert ledger_problems(self.container.db) == []
        self.container.close()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def bank_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    with database(request.param, tmp_path_factory.mktemp("model")) as base:
        build(base, clock=FakeClock()).close()  # migrate once
        yield base


def test_the_service_behaves_like_the_model(
    bank_settings: Settings, figures: Callable[..., None]
) -> None:
    Bank.settings_ = bank_settings
    Bank.clock = SteppedClock()
    # Shrinking a failure replays whole sequences against the database and can take many
    # minutes, so the bounded run in `make test` reports the failing sequence unshrunk.
    phases = list(Phase) if SHRINK else [p for p in Phase if p not in (Phase.shrink, Phase.explain)]
    run = settings(
        max_examples=EXAMPLES,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=phases,
        # The bounded run is the same every time: 25 random examples now and then held
        # no failed cash-out, and the coverage check below failed for it. The long run
        # (`make reliability`) explores afresh each time.
        derandomize=not SHRINK,
    )
    STATS.clear()
    run_state_machine_as_test(Bank, settings=run)
    figures(examples=EXAMPLES, steps_per_example=40, mismatches=0, **STATS)
    assert STATS["accepted"] > 0 and STATS["COMPLETED"] > 0 and STATS["FAILED"] > 0, STATS


def test_the_daily_limit_starts_again_at_midnight_in_sao_paulo(bank_settings: Settings) -> None:
    """The model once counted the daily limit over the whole run, while the service counts
    it by business day: a sequence that crossed midnight (the clock moves ~20 minutes an
    example, so 1,000 examples span about two weeks) was a false mismatch."""
    Bank.settings_ = bank_settings
    Bank.clock = SteppedClock()
    bank = Bank()
    bank.open_clients(opening=[400_00, 0])
    bank.late_evening()
    for key in ("k1", "k2"):  # 300.00: the whole of today's limit
        bank.create(who=0, reais=150, cents=0, account="947710840", key=key, invalid=None)
    bank.create(who=0, reais=1, cents=0, account="9901", key=None, invalid=None)  # refused
    before = business_date(Bank.clock.now())
    bank.drain()  # settles them after midnight
    assert business_date(Bank.clock.now()) > before
    assert bank.clients[0].used[business_date(Bank.clock.now())] == 0
    # A fresh limit today: accepted, then failed, releasing today's usage (not yesterday's).
    bank.create(who=0, reais=90, cents=0, account="9901", key=None, invalid=None)
    bank.drain()
    bank.create(who=0, reais=90, cents=0, account="947710840", key=None, invalid=None)
    bank.read_balance(who=0)
    assert len(bank.clients[0].cash_outs) == 4
    bank.teardown()
