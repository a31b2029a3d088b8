"""The log and metrics settings, and what the business log and its counters make of
what they are told (the e2e tests cover the real server)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from connectpsp.adapters.business_events import BusinessEvents, CountedInbound
from connectpsp.domain.cashout import AcceptedCashOut
from connectpsp.service.rail import IncomingPayment, IncomingReturn, Payer, Receipt
from connectpsp.settings import Settings, SettingsError
from tests.metrics_support import log_lines


def test_the_log_level_and_metrics_settings(tmp_path: Path) -> None:
    base = {"CONNECTPSP_VAR_DIR": str(tmp_path)}
    default = Settings.from_env(base)
    assert (default.log_level, default.metrics) == ("INFO", True)
    chosen = Settings.from_env(
        {**base, "CONNECTPSP_LOG_LEVEL": "warning", "CONNECTPSP_METRICS": "false"}
    )
    assert (chosen.log_level, chosen.metrics) == ("WARNING", False)
    with pytest.raises(SettingsError, match="CONNECTPSP_LOG_LEVEL must be one of"):
        Settings.from_env({**base, "CONNECTPSP_LOG_LEVEL": "LOUD"})
    with pytest.raises(SettingsError, match="CONNECTPSP_METRICS must be true or false"):
        Settings.from_env({**base, "CONNECTPSP_METRICS": "maybe"})


class Refusing:
    def receive(self, payment: IncomingPayment) -> Receipt:
        return Receipt(False, "AC03")

    def returned(self, back: IncomingReturn) -> Receipt:
        return Receipt(True)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def refused() -> float:
    return sample("connectpsp_cash_ins_refused_total", reason="AC03")


def test_a_refused_incoming_pix_is_logged_and_counted_without_the_payer() -> None:
    payment = IncomingPayment(
        end_to_end_id="E18236120202612050000" + uuid.uuid4().hex[:11],
        amount=10_00,
        payer=Payer("Maria Silva", "12345678909", "18236120"),
        key="nobody@example.com",
        txid=None,
        paid_at=datetime.now(UTC),
    )
    before = refused()
    assert CountedInbound(Refusing()).receive(payment) == Receipt(False, "AC03")
    assert refused() == before + 1
    [line] = log_lines(event="cash_in_refused", end_to_end_id=payment.end_to_end_id)
    assert (line["level"], line["reason"]) == ("warning", "AC03")
    assert "12345678909" not in str(line) and "nobody@" not in str(line)
    CountedInbound(Refusing(), count=False).receive(payment)
    assert refused() == before + 1  # metrics off: logged, not counted


def test_acceptances_are_logged_each_and_counted_once_per_batch() -> None:
    at = datetime.now(UTC)
    batch = [
        AcceptedCashOut(f"id-{n}", f"CODE{n}BATCH", f"ref-{n}", at, "client-batch")
        for n in range(3)
    ]
    before = sample("connectpsp_cash_outs_accepted_total")
    BusinessEvents().accepted(batch)
    assert sample("connectpsp_cash_outs_accepted_total") == before + 3
    for n in range(3):
        [line] = log_lines(event="cash_out_accepted", internal_code=f"CODE{n}BATCH")
        assert (line["level"], line["client_id"], line["cash_out_id"]) == (
            "info",
            "client-batch",
            f"id-{n}",
        )


def test_a_method_outside_the_usual_ones_is_counted_as_other() -> None:
    from connectpsp.metrics import observe_request

    labels = {"method": "OTHER", "route": "/unit-test-route", "status": "405"}
    before = sample("connectpsp_http_requests_total", **labels)
    for method in ("PROPFIND", "MKCOL", "BREW"):
        observe_request(method, "/unit-test-route", 405, 0.001)
    assert sample("connectpsp_http_requests_total", **labels) == before + 3
    assert sample("connectpsp_http_requests_total", **{**labels, "method": "BREW"}) == 0


def test_refunds_and_med_steps_are_logged_and_counted_without_the_payer() -> None:
    from connectpsp.domain.cashin import CashInPayer
    from connectpsp.domain.infractions import Infraction, InfractionAccepted, InfractionReported
    from connectpsp.domain.refunds import (
        Refund,
        RefundCompleted,
        RefundFailed,
        RefundReason,
        RefundStatus,
    )

    at = datetime.now(UTC)
    e2e = "E18236120202612050000" + uuid.uuid4().hex[:11]
    refund = Refund(
        id=str(uuid.uuid4()),
        return_id="D00416968202612050000" + uuid.uuid4().hex[:11],
        client_id="client-refunds",
        charge_id=None,
        internal_code="REFUNDCODE",
        end_to_end_id=e2e,
        amount=4_00,
        reason=RefundReason.ORIGINAL,
        description=None,
        payer=CashInPayer("Maria Silva", "12345678909", "18236120"),
        status=RefundStatus.PROCESSING,
        requested_at=at,
    )
    report = Infraction.report(
        str(uuid.uuid4()),
        client_id="client-refunds",
        end_to_end_id=e2e,
        amount=4_00,
        available=3_00,
        now=at,
    )
    failed = sample("connectpsp_refunds_total", outcome="failed", reason="MD06")
    reported = sample("connectpsp_infractions_total", step="reported")
    BusinessEvents().committed(
        [
            RefundCompleted(at, refund.complete(at)),
            RefundFailed(at, refund.fail("AC07", at)),
            InfractionReported(at, report, None),
            InfractionAccepted(at, report.accept(at, "ana", refund.id), None),
        ]
    )
    assert sample("connectpsp_refunds_total", outcome="failed", reason="MD06") == failed + 1
    assert sample("connectpsp_infractions_total", step="reported") == reported + 1
    [done] = log_lines(event="refund_completed", refund_id=refund.id)
    [bad] = log_lines(event="refund_failed", refund_id=refund.id)
    assert (done["level"], bad["level"], bad["spi_reason_code"]) == ("info", "warning", "AC07")
    [blocked] = log_lines(event="infraction_reported", infraction_id=report.id)
    [decided] = log_lines(event="infraction_accepted", infraction_id=report.id)
    assert (blocked["blocked"], decided["decided_by"]) == (3_00, "ana")
    for line in (done, bad, blocked, decided):
        assert "12345678909" not in str(line) and "Maria" not in str(line)
