"""``tests.invariants.cash_in_problems`` on MED reports, on SQLite and PostgreSQL: a run
of reports (accepted with its FR01 refund, rejected, one that found nothing to block)
leaves no problem, and the damage the crash loop relies on it to see is seen: a report
that says it blocked money and has no block, an accepted report whose refund is not a
FRAUD refund of its Pix, a FRAUD refund that no accepted report made, and a refund of
more than its report blocked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Executable, update

from connectpsp.adapters.storage import schema as t
from connectpsp.bootstrap import Container, build
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.pix import PixKeyType
from connectpsp.domain.refunds import RefundRequest
from connectpsp.service.acceptance import Accepted
from tests.invariants import cash_in_problems, ledger_problems
from tests.support import FakeClock, database


@dataclass
class Reports:
    container: Container
    accepted: str  # infraction ids
    refund: str  # the accepted one's FR01 refund
    rejected: str
    empty: str  # found nothing to block


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def reports(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Reports]:
    with database(request.param, tmp_path) as settings:
        c = build(settings, clock=FakeClock())
        try:
            yield _reports(c)
        finally:
            c.close()


def _reports(c: Container) -> Reports:
    creds = c.clients.create("med", cash_in_fee_plan=FeePlan(fixed=20), document="86288366757")
    client = c.clients.get(creds.client_id)
    key = c.pix_keys.register(client, PixKeyType.EVP, None, "test").key
    first = c.sandbox_payer.pay(pix_key=key, amount=10_00)
    second = c.sandbox_payer.pay(pix_key=key, amount=5_00)
    # Refunded in full first: nothing is left of it to refund, so its report blocks nothing.
    refunded = c.sandbox_payer.pay(pix_key=key, amount=3_00)
    asked = RefundRequest(None, 3_00, end_to_end_id=refunded)
    assert isinstance(c.refunds.create(client, "refund-all", asked).outcome, Accepted)
    empty = c.infractions.report(refunded)
    accepted = c.infractions.report(first, 8_00)
    rejected = c.infractions.report(second)
    assert (empty.blocked, accepted.blocked, rejected.blocked) == (0, 8_00, 5_00)
    refund = c.infractions.accept(accepted.id, by="test").refund_id
    assert refund is not None
    c.infractions.reject(rejected.id, by="test", reason="the payer confirmed it")
    c.infractions.accept(empty.id, by="test")
    return Reports(c, accepted.id, refund, rejected.id, empty.id)


def _change(c: Container, statement: Executable) -> None:
    with c.db.transaction(write=True) as tx:
        tx.conn.execute(statement)
        tx.commit()


def test_a_run_of_reports_leaves_no_problem(reports: Reports) -> None:
    c = reports.container
    assert ledger_problems(c.db) == []
    assert cash_in_problems(c.db, c.settings.ispb) == []


def test_a_report_that_blocked_money_without_a_block_is_seen(reports: Reports) -> None:
    c = reports.container
    i = t.med_infractions.c
    _change(c, update(t.med_infractions).where(i.id == reports.empty).values(blocked=1_00))
    assert cash_in_problems(c.db, c.settings.ispb) == [
        f"MED report {reports.empty} blocked 100: its block?"
    ]


def test_an_accepted_reports_refund_of_another_reason_is_seen(reports: Reports) -> None:
    c = reports.container
    r = t.cash_in_refunds.c
    _change(c, update(t.cash_in_refunds).where(r.id == reports.refund).values(reason="ORIGINAL"))
    problems = cash_in_problems(c.db, c.settings.ispb)
    assert any(
        p.startswith(f"MED report {reports.accepted} ACCEPTED: its refund") for p in problems
    )


def test_a_fraud_refund_no_accepted_report_made_is_seen(reports: Reports) -> None:
    c = reports.container
    i = t.med_infractions.c
    _change(c, update(t.med_infractions).where(i.id == reports.accepted).values(refund_id=None))
    assert cash_in_problems(c.db, c.settings.ispb) == [
        f"FRAUD refund {reports.refund} of no accepted MED report"
    ]


def test_a_rejected_report_with_a_refund_is_seen(reports: Reports) -> None:
    c = reports.container
    i = t.med_infractions.c
    _change(
        c,
        update(t.med_infractions).where(i.id == reports.rejected).values(refund_id=reports.refund),
    )
    problems = cash_in_problems(c.db, c.settings.ispb)
    assert any(p.startswith(f"MED report {reports.rejected} REJECTED") for p in problems), problems


def test_a_refund_of_more_than_was_blocked_is_seen(reports: Reports) -> None:
    c = reports.container
    r = t.cash_in_refunds.c
    _change(c, update(t.cash_in_refunds).where(r.id == reports.refund).values(amount=9_00))
    problems = cash_in_problems(c.db, c.settings.ispb)
    assert f"MED report {reports.accepted} blocked 800: refunds 900" in problems
