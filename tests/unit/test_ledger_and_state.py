import pytest

from connectpsp.domain.cashout import CashOutStatus
from connectpsp.domain.errors import IllegalTransition
from connectpsp.domain.ledger import Balance, FeePlan


def test_fee_plan_rounds_half_up_to_the_centavo():
    assert FeePlan().fee_for(5000) == 0
    assert FeePlan(fixed=1).fee_for(30) == 1  # seed 004: 0.30 + 0.01
    assert FeePlan(bps=50).fee_for(10_000) == 50  # 0.5% of R$ 100.00
    assert FeePlan(bps=50).fee_for(100) == 1  # 0.5 centavo rounds up
    assert FeePlan(bps=50).fee_for(99) == 0  # 0.495 rounds down
    assert FeePlan(fixed=25, bps=100).fee_for(10_000) == 125


def test_balance_arithmetic():
    b = Balance(credits_posted=10_000, debits_posted=3_000, debits_pending=2_000)
    assert (b.available, b.reserved, b.total) == (5_000, 2_000, 7_000)


def test_transitions():
    CashOutStatus.PROCESSING.check_transition(CashOutStatus.COMPLETED)
    CashOutStatus.PROCESSING.check_transition(CashOutStatus.FAILED)
    for terminal in (CashOutStatus.COMPLETED, CashOutStatus.FAILED):
        assert terminal.is_terminal
        for target in CashOutStatus:
            with pytest.raises(IllegalTransition):
                terminal.check_transition(target)
    with pytest.raises(IllegalTransition):
        CashOutStatus.PROCESSING.check_transition(CashOutStatus.PROCESSING)
