"""Cash-outs: sending a Pix payment, reading one back by either of its codes, and the
list of them."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from connectpsp.api import views
from connectpsp.api.cash_out_body import parse_cash_out, pays_br_code
from connectpsp.api.deps import (
    IDEMPOTENT_REPLAYED,
    INTERNAL_CODE_PATTERN,
    authenticated,
    body,
    errors,
    idempotency_key,
    json_body,
    json_response,
    respond,
    services_of,
    single_header,
)
from connectpsp.api.list_params import (
    CURSOR_QUERY,
    FROM_QUERY,
    LIMIT_QUERY,
    REFERENCE_QUERY,
    TO_QUERY,
    CashOutPage,
    decode_cursor,
    encode_cursor,
    filters_of,
)
from connectpsp.api.schemas import (
    AcceptedBody,
    CashOutBody,
    CashOutIn,
)
from connectpsp.domain.cashout import CashOutStatus
from connectpsp.domain.errors import InvalidSignature
from connectpsp.service.auth import Caller

__all__ = ["router"]

router = APIRouter(tags=["cash-out"])
_CLIENT_ERRORS = errors(400, 401, 404)


@router.post(
    "/cash-out",
    summary="Send a Pix payment to a key or a bank account",
    status_code=202,
    response_model=AcceptedBody,
    responses={
        **errors(400, 401, 409, 422),
        202: {
            "model": AcceptedBody,
            "headers": IDEMPOTENT_REPLAYED,
            "links": {
                "GetCashOut": {
                    "operationId": "get_cash_out",
                    "parameters": {"internalCode": "$response.body#/internalCode"},
                },
                "FindCashOut": {
                    "operationId": "find_cash_out",
                    "parameters": {"externalReference": "$response.body#/externalReference"},
                },
            },
        },
    },
    openapi_extra=body(
        CashOutIn,
        (
            "DigitalSignature",
            "Lowercase hex HMAC-SHA256 of the access token, keyed with your cryptoToken",
        ),
        ("X-Idempotency-Key", "Unique per request; a UUID is a good choice"),
    ),
)
async def create_cash_out(request: Request, caller: Caller = Depends(authenticated)) -> Response:
    services = services_of(request)
    signature = single_header(request, "DigitalSignature", InvalidSignature)
    services.auth.check_signature(caller, signature)
    key = idempotency_key(request, required=True)
    assert key is not None
    data = await json_body(request)
    limit = caller.client.per_transaction_limit
    if pays_br_code(data):  # a dynamic code's location is fetched: off the event loop
        cash_out_request = await run_in_threadpool(
            parse_cash_out, data, services.participants, limit, services.br_codes.destination
        )
    else:
        cash_out_request = parse_cash_out(data, services.participants, limit)
    if cash_out_request.webhook_url is not None:
        services.endpoints.check_cash_out_url(cash_out_request.webhook_url)
    # What DICT says of the payee, from memory when it can (a look-up runs in a thread);
    # the engine then decides it with the others queued now, balance and fraud at once.
    screening = services.cash_outs.screened(cash_out_request)
    if screening is None:
        screening = await run_in_threadpool(services.cash_outs.screen, cash_out_request)
    decided = await asyncio.wrap_future(
        services.cash_outs.submit(caller.client, key, cash_out_request, screening)
    )
    return respond(decided, lambda accepted: (202, views.accepted(accepted)))


@router.get(
    "/cash-out/{internalCode}",
    operation_id="get_cash_out",
    summary="A cash-out's status",
    response_model=CashOutBody,
    responses=_CLIENT_ERRORS,
)
def get_cash_out(
    request: Request,
    internal_code: str = Path(alias="internalCode", pattern=INTERNAL_CODE_PATTERN),
    caller: Caller = Depends(authenticated),
) -> Response:
    services = services_of(request)
    found = services.cash_outs.get(caller.client, internal_code)
    return json_response(views.cash_out(found, services.returns.of(found)))


@router.get(
    "/cash-out",
    operation_id="find_cash_out",
    summary=(
        "Your cash-outs, newest first, a page at a time; with externalReference alone,"
        " that one cash-out (after a timed-out POST, say)"
    ),
    response_model=CashOutBody | CashOutPage,
    responses=_CLIENT_ERRORS,
)
def find_cash_out(
    request: Request,
    external_reference: str | None = REFERENCE_QUERY,
    status: CashOutStatus | None = Query(None),
    start: str | None = FROM_QUERY,
    end: str | None = TO_QUERY,
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
    caller: Caller = Depends(authenticated),
) -> Response:
    services = services_of(request)
    if external_reference is not None and set(request.query_params) == {"externalReference"}:
        # The answer before lists existed, which clients rely on: one object, or 404.
        found = services.cash_outs.find(caller.client, external_reference)
        return json_response(views.cash_out(found, services.returns.of(found)))
    filters = filters_of(start, end, status.value if status else None, external_reference)
    after = decode_cursor(cursor, "cash_out", filters)
    page = services.listings.cash_outs(caller.client, filters, after, limit)
    return json_response(
        {
            "items": [views.cash_out(i.cash_out, i.returns) for i in page.items],
            "nextCursor": encode_cursor("cash_out", filters, page.next),
        }
    )
