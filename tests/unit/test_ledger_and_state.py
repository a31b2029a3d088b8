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


def test_an_unknown_spi_reason_is_a_payment_failure():
    from connectpsp.domain.spi import ReasonCode, failure_for

    assert failure_for("XX99") == failure_for(ReasonCode.ED05)
    assert failure_for(None).code == "PAYMENT_FAILED"
    assert failure_for("AC06").code == "ACCOUNT_BLOCKED"  # a known code, as plain text


def test_end_to_end_ids_are_unique_and_carry_the_ispb():
    import re
    from datetime import UTC, datetime

    from connectpsp.domain.ids import end_to_end_id, new_id

    moment = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)  # one minute for all: the tail decides
    ids = {end_to_end_id("00416968", moment, new_id()) for _ in range(20_000)}
    assert len(ids) == 20_000
    assert all(re.fullmatch(r"E00416968202503040506[A-Za-z0-9]{11}", i) for i in ids)
    other = end_to_end_id("60701190", moment, "same-payment")
    assert other.startswith("E60701190202503040506") and len(other) == 32
    assert other[-11:] == end_to_end_id("00416968", moment, "same-payment")[-11:]
