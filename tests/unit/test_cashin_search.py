"""The console's cash-in search form, read into a query, a cash-in's marks in the list,
and a cash-in's timeline in the order its life went."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectpsp.domain.cashin import CashIn, CashInPayer
from connectpsp.domain.cashin_search import (
    CashInQuery,
    CashInRow,
    CashInState,
    CashInTimeline,
    parse_query,
    parse_refund_status,
)
from connectpsp.domain.cashout_search import LedgerLine
from connectpsp.domain.clock import SAO_PAULO
from connectpsp.domain.errors import ValidationFailed
from connectpsp.domain.infractions import Infraction, InfractionStatus
from connectpsp.domain.refunds import RefundStatus
from connectpsp.domain.webhooks import Attempt, DeliveryStatus, DeliveryView

AT = datetime(2026, 12, 5, 13, 0, 0, 500_000, tzinfo=UTC)
PIX = CashIn(
    "E60701190202612051300abcdefghijk",
    "client",
    "charge",
    10_00,
    20,
    "key@example.com",
    "txid1",
    CashInPayer("Ana Pagadora", "11144477735", "60701190"),
    AT,
    AT,
)


def test_blank_fields_are_no_filter() -> None:
    assert parse_query({"txid": " ", "status": "", "to": ""}) == CashInQuery()
    assert parse_query({}).empty
    assert parse_refund_status({"status": ""}) is None


def test_the_fields_are_read_exactly_and_days_are_sao_paulos() -> None:
    query = parse_query(
        {
            "internalCode": " ABC123 ",
            "txid": "txid1",
            "externalReference": "ref-1",
            "endToEndId": "E123",
            "payerDocument": "111.444.777-35",
            "status": "MED",
            "from": "2026-12-01",
            "to": "2026-12-05",
        }
    )
    assert (query.internal_code, query.txid, query.external_reference) == (
        "ABC123",
        "txid1",
        "ref-1",
    )
    assert query.end_to_end_id == "E123" and query.payer_document == "11144477735"
    assert query.state is CashInState.MED
    assert query.start == datetime(2026, 12, 1, tzinfo=SAO_PAULO)
    assert query.end == datetime(2026, 12, 6, tzinfo=SAO_PAULO)  # the 5th, whole
    assert parse_refund_status({"status": "FAILED"}) is RefundStatus.FAILED


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"payerDocument": "123"}, "payerDocument"),
        ({"status": "COMPLETED"}, "status"),  # every cash-in is: not a search
        ({"from": "05/12/2026"}, "from"),
        ({"txid": "x" * 65}, "txid"),
        ({"internalCode": "A\tB"}, "internalCode"),
    ],
)
def test_a_bad_field_is_named(form: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_query(form)
    assert [e.field for e in raised.value.errors] == [field]
    assert f"{field}: " in raised.value.message


def test_several_bad_fields_are_named_at_once_in_the_forms_order() -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_query({"to": "x", "status": "Y", "payerDocument": "1"})
    assert [e.field for e in raised.value.errors] == ["payerDocument", "status", "to"]
    with pytest.raises(ValidationFailed) as refund:
        parse_refund_status({"status": "DONE"})
    assert refund.value.message == "Invalid search: status: PROCESSING, COMPLETED or FAILED."


def test_a_rows_marks_say_what_happened_to_it_since() -> None:
    assert CashInRow(PIX).states() == []
    partly = CashInRow(PIX, refunded=3_00, blocked=4_00, med=InfractionStatus.OPEN)
    assert partly.states() == ["BLOCKED", "PARTLY REFUNDED", "MED OPEN"]
    assert CashInRow(PIX, refunded=10_00).states() == ["REFUNDED"]


def test_a_timeline_is_in_time_order_whatever_recorded_it() -> None:
    credit = LedgerLine("t1", "cash_in", "single", 10_00, "psp", "client", AT)
    report = Infraction.report(
        "i1",
        client_id="client",
        end_to_end_id=PIX.end_to_end_id,
        amount=4_00,
        available=9_80,
        now=AT + timedelta(seconds=5),
    )
    block = report.block()
    assert block is not None
    released, _ = block.release(AT + timedelta(seconds=9), "operator")
    late = Attempt(AT + timedelta(seconds=2), None, 30_000, None, "timeout")
    delivery = DeliveryView(
        "d1",
        "m1",
        "CASHIN_COMPLETED",
        None,
        "http://x",
        DeliveryStatus.PENDING,
        (late,),
        AT + timedelta(seconds=60),
        AT,
    )
    timeline = CashInTimeline(
        row=CashInRow(PIX, blocked=0, med=InfractionStatus.OPEN),
        client_name="Loja",
        paid_by=None,
        transfers=[credit],
        rail=[],
        deliveries=[delivery],
        refunds=[],
        blocks=[released],
        infraction=report,
    )
    moments = timeline.moments()
    assert [(m.source, m.what) for m in moments] == [
        ("cash-in", "paid by Ana Pagadora"),
        ("cash-in", "credited"),
        ("ledger", "cash_in (single)"),
        ("webhook", "CASHIN_COMPLETED: no answer"),
        ("block", "MED block"),
        ("MED", "reported"),
        ("block", "released by operator"),
    ]
