"""Cash-outs: sending a Pix payment, and reading one back by either of its codes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from connectpsp.api import views
from connectpsp.api.deps import (
    IDEMPOTENT_REPLAYED,
    INTERNAL_CODE_PATTERN,
    REFERENCE_PATTERN,
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
from connectpsp.api.schemas import (
    AcceptedBody,
    CashOutBody,
    CashOutIn,
    parse_cash_out,
    pays_br_code,
)
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
    summary="Find a cash-out by your externalReference (after a timed-out POST, say)",
    response_model=CashOutBody,
    responses=_CLIENT_ERRORS,
)
def find_cash_out(
    request: Request,
    external_reference: str = Query(alias="externalReference", pattern=REFERENCE_PATTERN),
    caller: Caller = Depends(authenticated),
) -> Response:
    services = services_of(request)
    found = services.cash_outs.find(caller.client, external_reference)
    return json_response(views.cash_out(found, services.returns.of(found)))
