"""The console's cash-out search form, read into a query, and a timeline's order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectpsp.domain.cashout import CashOut, CashOutStatus, Payee, PixDestination
from connectpsp.domain.cashout_search import CashOutQuery, CashOutTimeline, LedgerLine, parse_query
from connectpsp.domain.clock import SAO_PAULO
from connectpsp.domain.errors import ValidationFailed
from connectpsp.domain.pix import PixKeyType
from connectpsp.domain.webhooks import Attempt, DeliveryStatus, DeliveryView


def test_blank_fields_are_no_filter() -> None:
    assert parse_query({"internalCode": " ", "status": "", "from": ""}) == CashOutQuery()
    assert parse_query({}).empty


def test_the_fields_are_read_exactly_and_days_are_sao_paulos() -> None:
    query = parse_query(
        {
            "internalCode": " ABC123 ",
            "externalReference": "ref-1",
            "endToEndId": "E123",
            "payeeDocument": "123.456.789-09",
            "status": "FAILED",
            "from": "2026-12-01",
            "to": "2026-12-05",
        }
    )
    assert query.internal_code == "ABC123" and query.external_reference == "ref-1"
    assert query.end_to_end_id == "E123" and query.payee_document == "12345678909"
    assert query.status is CashOutStatus.FAILED
    assert query.start == datetime(2026, 12, 1, tzinfo=SAO_PAULO)
    assert query.end == datetime(2026, 12, 6, tzinfo=SAO_PAULO)  # the 5th, whole
    assert query.start.utcoffset() == timedelta(hours=-3)
    cnpj = parse_query({"payeeDocument": "12.abc.345/01de-35"}).payee_document
    assert cnpj == "12ABC34501DE35"  # alphanumeric CNPJs are documents too


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"payeeDocument": "123"}, "payeeDocument"),
        ({"payeeDocument": "1234567890é"}, "payeeDocument"),
        ({"status": "PAID"}, "status"),
        ({"from": "05/12/2026"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-12-05", "to": "2026-12-01"}, "to"),
        ({"internalCode": "x" * 65}, "internalCode"),
        ({"endToEndId": "E1\n2"}, "endToEndId"),
    ],
)
def test_a_bad_field_is_named(form: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_query(form)
    assert [e.field for e in raised.value.errors] == [field]
    assert f"{field}: " in raised.value.message


def test_a_timeline_is_in_time_order_whatever_recorded_it() -> None:
    at = datetime(2026, 12, 5, 13, 0, 0, 500_000, tzinfo=UTC)
    destination = PixDestination(PixKeyType.CPF, "12345678909")
    cash_out = CashOut(
        "co1",
        "ABC123",
        "client",
        "ref-1",
        10_00,
        0,
        None,
        None,
        Payee("Maria Silva", "12345678909", destination),
        CashOutStatus.PROCESSING,
        at,
    )
    transfer = LedgerLine("t1", "cash_out", "pending", 10_00, "a", "b", at + timedelta(seconds=1))
    attempt = Attempt(at + timedelta(seconds=3), 500, 12, "oops", None)
    delivery = DeliveryView(
        "d1",
        "m1",
        "CASHOUT_COMPLETED",
        None,
        "http://x",
        DeliveryStatus.FAILED,
        (attempt,),
        None,
        at + timedelta(seconds=2),
    )
    # The reservation written a moment before the cash-out's own time, in the same second.
    reserved = LedgerLine(
        "t0", "cash_out", "pending", 10_00, "a", "b", at - timedelta(microseconds=5)
    )
    timeline = CashOutTimeline(cash_out, "Loja", [transfer, reserved], [], [delivery], [])
    moments = timeline.moments()
    assert [m.what for m in moments[:2]] == ["requested", "cash_out (pending)"]
    assert [m.source for m in moments] == ["cash-out", "ledger", "ledger", "webhook"]
    assert moments[-1].what == "CASHOUT_COMPLETED: 500"
    assert all(m.at.tzinfo is not None for m in moments)
    assert moments[0].at == at
