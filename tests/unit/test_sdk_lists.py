"""The SDK's lists (issue 17) against a scripted transport, on both clients: an iterator
that follows nextCursor with the same filters until it is null, fetching a page only as
it is reached; dates and aware times sent as ISO 8601; bad arguments refused before
anything is sent; the statement's lines and its CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectpsp import Movement
from tests.unit.test_sdk import KINDS, Script, run
from tests.unit.test_sdk_models import MOVEMENT


def cash_out_json(code: str) -> dict[str, Any]:
    return {
        "transactionId": code.lower(),
        "internalCode": code,
        "externalReference": f"ref-{code}",
        "status": "FAILED",
        "amount": 1.0,
        "feeAmount": 0.0,
        "finalAmount": 1.0,
        "description": None,
        "payee": {
            "name": "Maria Silva",
            "document": "***.456.789-**",
            "destination": {"type": "PIX", "pixKeyType": "CPF", "pixKey": "12345678909"},
        },
        "endToEndId": None,
        "failure": {"code": "AC06", "message": "blocked"},
        "requestedAt": "2026-03-10T14:00:00-03:00",
        "paidAt": None,
    }


def page(codes: list[str], cursor: str | None) -> httpx.Response:
    return httpx.Response(
        200, json={"items": [cash_out_json(c) for c in codes], "nextCursor": cursor}
    )


async def walk(iterator: Any) -> list[Any]:
    if hasattr(iterator, "__aiter__"):
        return [item async for item in iterator]
    return list(iterator)


@pytest.mark.parametrize("kind", KINDS)
def test_a_list_follows_the_cursor_with_the_same_filters(kind: str) -> None:
    script = Script(page(["AAAAAAAAAA", "BBBBBBBBBB"], "c1"), page(["CCCCCCCCCC"], None))

    async def steps(psp: Any) -> list[Any]:
        return await walk(psp.cash_outs.list(status="FAILED", from_=date(2026, 3, 1), page_size=2))

    found = run(kind, script, steps)
    assert [c.internal_code for c in found] == ["AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC"]
    first, second = (dict(r.url.params) for r in script.requests)
    assert first == {"limit": "2", "status": "FAILED", "from": "2026-03-01"}
    assert second == {**first, "cursor": "c1"}
    assert all(r.url.path == "/cash-out" and r.method == "GET" for r in script.requests)


@pytest.mark.parametrize("kind", KINDS)
def test_a_page_is_fetched_only_when_it_is_reached(kind: str) -> None:
    script = Script(page(["AAAAAAAAAA", "BBBBBBBBBB"], "c1"), page(["CCCCCCCCCC"], None))

    async def steps(psp: Any) -> Any:
        listed = psp.cash_outs.list(page_size=2)
        first = await anext(listed) if hasattr(listed, "__anext__") else next(listed)
        return first, len(script.requests)

    first, sent = run(kind, script, steps)
    assert first.internal_code == "AAAAAAAAAA" and sent == 1


@pytest.mark.parametrize("kind", KINDS)
def test_an_external_reference_list_is_still_a_list(kind: str) -> None:
    """``externalReference`` alone would ask the API for one object: limit goes too."""
    script = Script(page(["AAAAAAAAAA"], None))

    async def steps(psp: Any) -> list[Any]:
        return await walk(psp.cash_outs.list(external_reference="ref-1"))

    assert len(run(kind, script, steps)) == 1
    assert dict(script.requests[0].url.params) == {"limit": "100", "externalReference": "ref-1"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "arguments",
    [{"page_size": 0}, {"page_size": 1001}, {"to": datetime(2026, 3, 1, 12, 0)}],
)
def test_bad_arguments_send_nothing(kind: str, arguments: dict[str, Any]) -> None:
    script = Script()

    async def steps(psp: Any) -> Any:
        return await walk(psp.statement.list(**arguments))

    with pytest.raises(ValueError):
        run(kind, script, steps)
    assert script.requests == [] and script.tokens == 0


@pytest.mark.parametrize("kind", KINDS)
def test_the_statement_lines_and_its_csv(kind: str) -> None:
    csv_body = b"movementId,type\r\nm1,CASH_IN\r\n"
    script = Script(
        httpx.Response(200, json={"items": [MOVEMENT], "nextCursor": None}),
        httpx.Response(200, content=csv_body, headers={"content-type": "text/csv; charset=utf-8"}),
    )
    since = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)

    async def steps(psp: Any) -> Any:
        lines = await walk(psp.statement.list(from_=since, to="2026-03-11"))
        downloaded = psp.statement.csv(from_=since)
        return lines, (await downloaded if kind == "async" else downloaded)

    lines, downloaded = run(kind, script, steps)
    (line,) = lines
    assert isinstance(line, Movement)
    assert (line.type, line.movement_type, line.amount) == (
        "CASH_OUT_FEE",
        "DEBIT",
        Decimal("0.50"),
    )
    assert (line.balance_after, line.subject_kind, line.internal_code) == (
        Decimal("89.50"),
        "cash_out",
        "ABCDEFGHIJ",
    )
    assert line.created_at.utcoffset() is not None
    assert downloaded == csv_body
    listed, csv_request = script.requests
    assert dict(listed.url.params) == {
        "limit": "100",
        "from": "2026-03-10T17:00:00+00:00",
        "to": "2026-03-11",
    }
    assert csv_request.url.path == "/statement.csv"
    assert dict(csv_request.url.params) == {"from": "2026-03-10T17:00:00+00:00"}
    assert csv_request.headers["accept"] == "text/csv"
