"""The statement: every movement of the client's available balance, in order, as JSON
pages or as one CSV streamed a chunk at a time (docs/statement.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from connectpsp.api.deps import authenticated, errors, json_response, services_of
from connectpsp.api.list_params import (
    CURSOR_QUERY,
    FROM_QUERY,
    LIMIT_QUERY,
    TO_QUERY,
    StatementPage,
    decode_cursor,
    encode_cursor,
    filters_of,
)
from connectpsp.domain.clock import iso_local
from connectpsp.domain.listing import Movement
from connectpsp.domain.money import to_decimal
from connectpsp.service.auth import Caller

__all__ = ["CSV_CHUNK", "csv_lines", "movement_json", "router"]

router = APIRouter(tags=["statement"])

# Lines read per query while a CSV streams: memory holds one chunk, whatever the period.
CSV_CHUNK = 1_000
_CSV_COLUMNS = [
    "movementId",
    "type",
    "movementType",
    "amount",
    "balanceAfter",
    "subjectKind",
    "internalCode",
    "endToEndId",
    "createdAt",
]


def movement_json(m: Movement) -> dict[str, Any]:
    return {
        "movementId": m.transfer_id,
        "type": m.type,
        "movementType": "CREDIT" if m.change > 0 else "DEBIT",
        "amount": to_decimal(abs(m.change)),
        "balanceAfter": to_decimal(m.balance_after),
        "subject": {"kind": m.subject_kind, "internalCode": m.internal_code},
        "endToEndId": m.end_to_end_id,
        "createdAt": iso_local(m.created_at),
    }


@router.get(
    "/statement",
    summary="Every movement of your available balance, oldest first, a page at a time",
    response_model=StatementPage,
    responses=errors(400, 401),
)
def get_statement(
    request: Request,
    start: str | None = FROM_QUERY,
    end: str | None = TO_QUERY,
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
    caller: Caller = Depends(authenticated),
) -> Response:
    filters = filters_of(start, end)
    after = decode_cursor(cursor, "statement", filters)
    page = services_of(request).listings.statement(caller.client, filters, after, limit)
    return json_response(
        {
            "items": [movement_json(m) for m in page.items],
            "nextCursor": encode_cursor("statement", filters, page.next),
        }
    )


@router.get(
    "/statement.csv",
    summary="The statement of a period as CSV (amounts as 10.00, times in -03:00)",
    responses={**errors(400, 401), 200: {"content": {"text/csv": {}}}},
    response_class=StreamingResponse,
)
def get_statement_csv(
    request: Request,
    start: str | None = FROM_QUERY,
    end: str | None = TO_QUERY,
    caller: Caller = Depends(authenticated),
) -> StreamingResponse:
    filters = filters_of(start, end)
    lines = services_of(request).listings.all_movements(caller.client, filters, CSV_CHUNK)
    return StreamingResponse(
        csv_lines(lines),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="statement.csv"'},
    )


def csv_lines(lines: Iterator[Movement]) -> Iterator[str]:
    """The header, then one chunk of rows per yield (a row's fields are ours: codes,
    ids, decimals and times, never text a customer wrote)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for count, m in enumerate(lines, start=1):
        row = movement_json(m)
        subject = row.pop("subject")
        writer.writerow(
            [
                row["movementId"],
                row["type"],
                row["movementType"],
                row["amount"],
                row["balanceAfter"],
                subject["kind"] or "",
                subject["internalCode"] or "",
                row["endToEndId"] or "",
                row["createdAt"],
            ]
        )
        if count % CSV_CHUNK == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
