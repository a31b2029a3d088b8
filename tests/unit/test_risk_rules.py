"""The fraud and risk checks as the domain decides them, each at its edge: the last
allowed cash-out passes and the next is refused; in milliseconds."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from connectpsp.domain.cashout import CashOutRequest, Payee, PixDestination
from connectpsp.domain.cashout_acceptance import UNMARKED, CashOutBook, assess
from connectpsp.domain.clients import Client
from connectpsp.domain.clock import SAO_PAULO
from connectpsp.domain.errors import FraudSuspected, LimitExceeded, ValidationFailed
from connectpsp.domain.ledger import Balance, Book, FeePlan, client_account_code
from connectpsp.domain.pix import PixKeyType
from connectpsp.domain.risk import (
    TICK,
    Attempt,
    RiskHistory,
    RiskRules,
    Screening,
    Tally,
    night_started,
)

NOON = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in Sao Paulo
MARIA = Payee("Maria Silva", "12345678909", PixDestination(PixKeyType.CPF, "12345678909"))
ANA = Payee("Ana Costa", "98765432100", PixDestination(PixKeyType.CPF, "98765432100"))


def client(rules: RiskRules) -> Client:
    return Client(
        id="c1",
        name="c",
        fee_plan=FeePlan(),
        per_transaction_limit=1_000_000_00,
        daily_limit=1_000_000_00,
        active=True,
        created_at=NOON,
        secret_hash="h",
        crypto_token_enc="e",
        app_token_hash="a",
        webhook_secret_enc="w",
        risk=rules,
    )


def book() -> CashOutBook:
    return CashOutBook(Book({client_account_code("c1"): Balance(10_000_000, 0, 0)}), set(), {})


class Sender:
    """One client sending cash-outs against one book, as a batch would."""

    def __init__(self, rules: RiskRules) -> None:
        self.client = client(rules)
        self.book = book()
        self.sent = 0

    def send(
        self, amount: int, at: datetime, payee: Payee = MARIA, screening: Screening = UNMARKED
    ) -> str:
        self.sent += 1
        request = CashOutRequest(amount, f"r{self.sent}", None, None, payee)
        decided = assess(self.book, self.client, request, at, screening)
        if decided.refusal is None:
            return "accepted"
        if isinstance(decided.refusal, LimitExceeded):
            assert decided.refusal.details is not None
            return str(decided.refusal.details["rule"])
        return decided.refusal.code


@pytest.mark.parametrize(
    "screening",
    [Screening(key_marked=True), Screening(owner_marked=True), Screening(payee_marked=True)],
)
def test_a_marked_counterpart_is_fraud_suspected_and_moves_nothing(screening: Screening) -> None:
    sender = Sender(RiskRules())
    before = dict(sender.book.ledger.balances)
    assert sender.send(1_00, NOON, screening=screening) == FraudSuspected.code
    assert sender.book.ledger.balances == before and sender.book.usage == {}
    refused = assess(
        sender.book, sender.client, CashOutRequest(1_00, "x", None, None, MARIA), NOON, screening
    )
    assert isinstance(refused.refusal, FraudSuspected)
    assert refused.refusal.details is None  # nothing more about the rule
    assert [c.rule for c in refused.checks if not c.passed] == ["fraud_markers"]


def test_per_minute_count_at_its_edge_and_refused_attempts_count() -> None:
    sender = Sender(RiskRules(max_cash_outs_per_minute=3))
    outcomes = [sender.send(1_00, NOON + timedelta(seconds=i)) for i in range(5)]
    assert outcomes == ["accepted"] * 3 + ["max_cash_outs_per_minute"] * 2
    # 61 s after the first: the first has left the minute, but the refused ones at +3 s
    # and +4 s still count, with the accepted ones at +1 s and +2 s.
    assert sender.send(1_00, NOON + timedelta(seconds=61)) == "max_cash_outs_per_minute"
    assert sender.send(1_00, NOON + timedelta(seconds=65)) == "accepted"


def test_amount_per_hour_at_its_edge() -> None:
    sender = Sender(RiskRules(max_amount_per_hour=100_00))
    assert sender.send(60_00, NOON) == "accepted"
    assert sender.send(40_01, NOON + timedelta(minutes=10)) == "max_amount_per_hour"
    assert sender.send(40_00, NOON + timedelta(minutes=10)) == "accepted"  # exactly 100.00
    assert sender.send(1, NOON + timedelta(minutes=59)) == "max_amount_per_hour"
    assert sender.send(60_00, NOON + timedelta(minutes=61)) == "accepted"  # the first left


def test_first_payment_to_a_new_payee_at_its_edge() -> None:
    sender = Sender(RiskRules(new_payee_limit=50_00))
    assert sender.send(50_01, NOON) == "new_payee_limit"
    assert sender.send(50_00, NOON) == "accepted"
    assert sender.send(5_000_00, NOON) == "accepted"  # Maria is no longer new
    assert sender.send(50_01, NOON, payee=ANA) == "new_payee_limit"


def test_the_night_limit_across_midnight_in_sao_paulo() -> None:
    rules = RiskRules(night_limit=100_00)  # 20:00-06:00 by default
    evening = datetime(2026, 3, 10, 19, 59, tzinfo=SAO_PAULO)
    sender = Sender(rules)
    assert sender.send(1_000_00, evening) == "accepted"  # still day: no night cap
    night = evening + timedelta(minutes=1)
    assert sender.send(70_00, night) == "accepted"
    after_midnight = datetime(2026, 3, 11, 1, 30, tzinfo=SAO_PAULO)
    assert sender.send(30_01, after_midnight) == "night_limit"  # same night: 70 + 30.01
    assert sender.send(30_00, after_midnight) == "accepted"
    morning = datetime(2026, 3, 11, 6, 0, tzinfo=SAO_PAULO)
    assert sender.send(1_000_00, morning) == "accepted"  # the night is over


def test_when_the_night_began() -> None:
    rules = RiskRules(night_start=time(20), night_end=time(6))
    start = datetime(2026, 3, 10, 20, 0, tzinfo=SAO_PAULO)
    assert night_started(rules, datetime(2026, 3, 11, 5, 59, tzinfo=SAO_PAULO)) == start
    assert night_started(rules, datetime(2026, 3, 10, 23, 0, tzinfo=UTC)) == start  # 20:00 local
    assert night_started(rules, datetime(2026, 3, 11, 6, 0, tzinfo=SAO_PAULO)) is None
    early = RiskRules(night_start=time(0), night_end=time(5))
    assert night_started(early, datetime(2026, 3, 11, 4, 0, tzinfo=SAO_PAULO)) == datetime(
        2026, 3, 11, 0, 0, tzinfo=SAO_PAULO
    )
    assert night_started(early, datetime(2026, 3, 11, 23, 0, tzinfo=SAO_PAULO)) is None


def test_a_breach_names_its_rule_and_limit() -> None:
    sender = Sender(RiskRules(max_amount_per_hour=10_00))
    request = CashOutRequest(10_01, "x", None, None, MARIA)
    refused = assess(sender.book, sender.client, request, NOON)
    assert isinstance(refused.refusal, LimitExceeded)
    assert refused.refusal.details == {"rule": "max_amount_per_hour", "limit": "10.00"}
    assert "R$ 10,00" in refused.refusal.message
    check = next(c for c in refused.checks if c.rule == "max_amount_per_hour")
    assert check.inputs == {"limit": 10_00, "inLastHour": 0, "amount": 10_01}


def test_every_rule_that_ran_is_kept_for_the_record() -> None:
    rules = RiskRules(
        max_cash_outs_per_minute=10, max_amount_per_hour=1_000_00, new_payee_limit=500_00
    )
    accepted = assess(book(), client(rules), CashOutRequest(1_00, "x", None, None, MARIA), NOON)
    assert accepted.acceptance is not None
    assert [c.rule for c in accepted.checks] == [
        "fraud_markers",
        "max_cash_outs_per_minute",
        "max_amount_per_hour",
        "new_payee_limit",
    ]
    assert all(c.passed for c in accepted.checks)


def test_a_history_answers_its_windows_as_a_scan_of_its_attempts_would() -> None:
    # What the store holds (its tally, and as it stood before each moment looked back to)
    # and what this book added since, some older than the newest added; times on whole
    # seconds so that many attempts share one, and the edges are hit.
    shuffle = random.Random(20)
    attempts = [
        Attempt(NOON + timedelta(seconds=shuffle.randrange(120)), shuffle.randrange(1, 500), ok)
        for ok in (shuffle.random() < 0.7 for _ in range(200))
    ]
    stored, added = attempts[:120], attempts[120:]

    def tally(of: list[Attempt]) -> Tally:
        return Tally(len(of), sum(a.amount for a in of if a.accepted))

    moments = [
        NOON + timedelta(seconds=s) + tick for s in range(-1, 122) for tick in (0 * TICK, TICK)
    ]
    history = RiskHistory(
        tally(stored), {m: tally([a for a in stored if a.at < m]) for m in moments}
    )
    for i, attempt in enumerate(added):
        assert history.add(attempt) == tally(stored + added[: i + 1])
    for second in range(-1, 121):
        moment = NOON + timedelta(seconds=second)
        # Strictly after ``moment``: the counts from the next instant on.
        assert history.counts_since(moment + TICK)[0] == sum(a.at > moment for a in attempts)
        assert history.counts_since(moment)[1] == sum(
            a.amount for a in attempts if a.accepted and a.at >= moment
        )


def test_a_history_read_without_a_moment_its_rules_need_is_a_bug_not_a_zero() -> None:
    history = RiskHistory(Tally(3, 3_00), {})
    with pytest.raises(KeyError):
        history.counts_since(NOON)


@pytest.mark.parametrize(
    "bad",
    [
        {"max_cash_outs_per_minute": 0},
        {"max_amount_per_hour": -1},
        {"night_start": time(6), "night_end": time(6)},
    ],
)
def test_rules_are_checked_when_made(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        replace(RiskRules(), **bad)


class Slow:
    """A screener that answers after ``seconds``, or raises."""

    def __init__(self, seconds: float, *, fails: bool = False) -> None:
        self.seconds = seconds
        self.fails = fails

    def screen(self, request: CashOutRequest) -> Screening:
        import time as clock

        clock.sleep(self.seconds)
        if self.fails:
            raise ConnectionError("the risk engine is down")
        return Screening()

    def remembered(self, request: CashOutRequest) -> Screening | None:
        return None


@pytest.mark.parametrize(
    ("screener", "marked"),
    [(Slow(0), False), (Slow(0.5), True), (Slow(0, fails=True), True)],
)
def test_an_external_screener_that_is_late_or_down_fails_closed(
    screener: Slow, marked: bool
) -> None:
    from connectpsp.service.risk import FailClosed

    closed = FailClosed(screener, timeout=0.1)
    request = CashOutRequest(1_00, "r", None, None, MARIA)
    assert closed.screen(request).marked is marked
    assert closed.remembered(request) is None
