"""The lists' parameters and paging (issue 17): dates and times read in -03:00, the
opaque cursor tied to its list and filters, pages of ``limit`` with a next position
only when more exist, the CSV's chunked read, and what each ledger code is called."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from connectpsp.api.list_params import decode_cursor, encode_cursor, filters_of, parse_time
from connectpsp.domain.errors import ValidationFailed
from connectpsp.domain.ledger import TransferKind
from connectpsp.domain.listing import Filters, Movement, Position, movement_type
from connectpsp.service.statement import Listings

BRT = timezone(timedelta(hours=-3))
AT = datetime(2026, 12, 5, 13, 0, 0, 123456, tzinfo=UTC)


def refused_field(call: Any) -> str:
    with pytest.raises(ValidationFailed) as refused:
        call()
    (error,) = refused.value.errors
    return error.field


def test_dates_and_times_are_read_in_brasilia_unless_they_say_otherwise() -> None:
    assert parse_time("2026-12-01", "from", end_of_day=False) == datetime(2026, 12, 1, tzinfo=BRT)
    # A date as ``to`` is the whole day: up to the next day's first moment.
    assert parse_time("2026-12-01", "to", end_of_day=True) == datetime(2026, 12, 2, tzinfo=BRT)
    assert parse_time("2026-12-31", "to", end_of_day=True) == datetime(2027, 1, 1, tzinfo=BRT)
    assert parse_time("2026-12-01T09:30", "from", end_of_day=False) == datetime(
        2026, 12, 1, 9, 30, tzinfo=BRT
    )
    assert parse_time("2026-12-01T09:30:00Z", "to", end_of_day=True) == datetime(
        2026, 12, 1, 9, 30, tzinfo=UTC
    )
    assert parse_time("2026-12-01T09:30:00.5+01:00", "from", end_of_day=False).utcoffset() == (
        timedelta(hours=1)
    )


@pytest.mark.parametrize(
    ("start", "end", "named"),
    [
        ("2026-02-30", None, "from"),
        ("yesterday", None, "from"),
        (None, "2026-12-01T24:00:00", "to"),
        ("2026-12-02", "2026-11-30", "to"),
        ("2026-12-01T10:00:00-03:00", "2026-12-01T09:59:59-03:00", "to"),
    ],
)
def test_bad_times_name_their_field(start: str | None, end: str | None, named: str) -> None:
    assert refused_field(lambda: filters_of(start, end)) == named


def test_an_empty_period_is_allowed() -> None:
    filters = filters_of("2026-12-01T10:00:00", "2026-12-01T10:00:00")
    assert filters.start == filters.end


def test_a_cursor_round_trips_and_is_opaque() -> None:
    filters = filters_of("2026-12-01", "2026-12-31", "FAILED", "ref-1")
    cursor = encode_cursor("cash_out", filters, Position(AT, 42))
    assert cursor is not None and "42" not in cursor and "=" not in cursor
    assert decode_cursor(cursor, "cash_out", filters) == Position(AT, 42)
    # Stable: the same position and filters make the same cursor.
    assert cursor == encode_cursor(
        "cash_out", filters_of("2026-12-01", "2026-12-31", "FAILED", "ref-1"), Position(AT, 42)
    )
    assert encode_cursor("cash_out", filters, None) is None
    assert decode_cursor(None, "cash_out", filters) is None


def test_a_cursor_belongs_to_its_list_and_its_filters() -> None:
    filters = Filters(status="FAILED")
    cursor = encode_cursor("cash_out", filters, Position(AT, 7))
    for kind, other in (
        ("cash_out", Filters(status="COMPLETED")),
        ("cash_out", Filters()),
        ("cash_out", Filters(status="FAILED", start=AT)),
        ("charge", filters),
        ("statement", filters),
    ):
        assert refused_field(lambda k=kind, o=other: decode_cursor(cursor, k, o)) == "cursor"


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64-json",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"k": "cash_out"}).encode()).decode(),
        base64.urlsafe_b64encode(
            json.dumps({"k": "cash_out", "t": "2026-12-01T10:00:00", "s": 1, "f": "x"}).encode()
        ).decode(),  # a time without its zone
        base64.urlsafe_b64encode(
            json.dumps({"k": "cash_out", "t": "noon", "s": 1, "f": "x"}).encode()
        ).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_cursor_we_did_not_make_is_refused(cursor: str) -> None:
    assert refused_field(lambda: decode_cursor(cursor, "cash_out", Filters())) == "cursor"


@dataclass
class FakeStore:
    """Lines 1..n, as storage would hand them: at most ``limit`` after a position."""

    count: int
    asked: list[int] = field(default_factory=list)

    def movements(
        self, client_id: str, filters: Filters, after: Position | None, limit: int
    ) -> list[Movement]:
        self.asked.append(limit)
        first = 1 if after is None else after.seq + 1
        return [line(n) for n in range(first, min(first + limit, self.count + 1))]


def line(n: int) -> Movement:
    return Movement(Position(AT, n), f"t{n}", "CASH_IN", 100, 100 * n, "cash_in", None, None)


CLIENT: Any = type("C", (), {"id": "c1"})()


def test_a_page_has_a_next_position_only_when_more_exist() -> None:
    listings = Listings(FakeStore(5))  # type: ignore[arg-type]
    first = listings.statement(CLIENT, Filters(), None, 2)
    assert [m.position.seq for m in first.items] == [1, 2]
    assert first.next == Position(AT, 2)
    last = listings.statement(CLIENT, Filters(), Position(AT, 4), 1)
    assert [m.position.seq for m in last.items] == [5] and last.next is None
    exact = listings.statement(CLIENT, Filters(), None, 5)
    assert len(exact.items) == 5 and exact.next is None


@pytest.mark.parametrize(("count", "reads"), [(0, 1), (7, 3), (9, 4), (1, 1)])
def test_the_csv_reads_a_chunk_at_a_time(count: int, reads: int) -> None:
    store = FakeStore(count)
    listings = Listings(store)  # type: ignore[arg-type]
    seen = [m.position.seq for m in listings.all_movements(CLIENT, Filters(), chunk=3)]
    assert seen == list(range(1, count + 1))
    assert store.asked == [3] * reads


def test_each_ledger_code_names_its_movement() -> None:
    assert movement_type("cash_out", TransferKind.PENDING) == "CASH_OUT"
    assert movement_type("cash_out_fee", TransferKind.VOID_PENDING) == "CASH_OUT_FEE_REVERSAL"
    assert movement_type("cash_in_refund", TransferKind.PENDING) == "REFUND"
    assert movement_type("cash_in_refund", TransferKind.VOID_PENDING) == "REFUND_REVERSAL"
    assert movement_type("sandbox_fund", TransferKind.SINGLE) == "SANDBOX_FUNDING"
    assert movement_type("block_release", TransferKind.SINGLE) == "BLOCK_RELEASE"


@pytest.mark.parametrize("kind", list(TransferKind))
@pytest.mark.parametrize("debited", [True, False])
def test_a_lines_change_is_the_domains_rule(kind: TransferKind, debited: bool) -> None:
    """The ledger's shortcut for a line's change agrees with ``Balance.after``."""
    from connectpsp.adapters.storage.ledger import _available_change
    from connectpsp.domain.ledger import Balance, Transfer

    pending_id = "p" if kind in (TransferKind.POST_PENDING, TransferKind.VOID_PENDING) else None
    transfer = Transfer("t", "a", "b", 700, kind, "c", None, pending_id)
    expected = Balance(0, 0, 0).after(transfer, debited=debited).available
    assert _available_change(transfer, debited=debited) == expected
