"""Cash-in: charges (a BR Code to be paid) and the client's own Pix keys."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from connectpsp.api import qrcode, views
from connectpsp.api.cashin_schemas import ChargeBody, ChargeIn, PixKeyBody, PixKeyIn, parse_charge
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
    ChargePage,
    decode_cursor,
    encode_cursor,
    filters_of,
)
from connectpsp.api.schemas import parse_body
from connectpsp.api.services import Services
from connectpsp.domain.cashin import CashIn, Charge, ChargeStatus
from connectpsp.domain.errors import InvalidSignature
from connectpsp.service.auth import Caller

__all__ = ["router"]

router = APIRouter(tags=["cash-in"])
_SIGNED = (
    (
        "DigitalSignature",
        "Lowercase hex HMAC-SHA256 of the access token, keyed with your cryptoToken",
    ),
    ("X-Idempotency-Key", "Unique per request; a UUID is a good choice"),
)


def _view(services: Services, charge: Charge, payments: list[CashIn]) -> dict[str, Any]:
    """A charge as the API shows it, its payments with their refunds."""
    refunds = services.refunds.of_payments([p.end_to_end_id for p in payments])
    return views.charge(charge, payments, services.participants, refunds)


def _check_signature(request: Request, caller: Caller) -> None:
    signature = single_header(request, "DigitalSignature", InvalidSignature)
    services_of(request).auth.check_signature(caller, signature)


@router.post(
    "/cash-in",
    summary="Create a charge: a BR Code (Pix copia e cola) for your customer to pay",
    status_code=201,
    response_model=ChargeBody,
    responses={
        **errors(400, 401, 409),
        201: {
            "model": ChargeBody,
            "headers": IDEMPOTENT_REPLAYED,
            "links": {
                "GetCharge": {
                    "operationId": "get_charge",
                    "parameters": {"internalCode": "$response.body#/internalCode"},
                },
                "FindCharge": {
                    "operationId": "find_charge",
                    "parameters": {"externalReference": "$response.body#/externalReference"},
                },
            },
        },
    },
    openapi_extra=body(ChargeIn, *_SIGNED),
)
async def create_charge(request: Request, caller: Caller = Depends(authenticated)) -> Response:
    services = services_of(request)
    _check_signature(request, caller)
    key = idempotency_key(request, required=True)
    assert key is not None
    charge_request = parse_charge(await json_body(request))
    if charge_request.webhook_url is not None:
        services.endpoints.check_cash_out_url(charge_request.webhook_url)
    # The client's first charge may register its key in DICT first: off the event loop.
    future = await run_in_threadpool(services.cash_ins.submit, caller.client, key, charge_request)
    decided = await asyncio.wrap_future(future)
    return respond(decided, lambda charge: (201, views.charge(charge, [], services.participants)))


@router.get(
    "/cash-in/{internalCode}",
    operation_id="get_charge",
    summary="A charge, with the payments it received",
    response_model=ChargeBody,
    responses=errors(400, 401, 404),
)
def get_charge(
    request: Request,
    internal_code: str = Path(alias="internalCode", pattern=INTERNAL_CODE_PATTERN),
    caller: Caller = Depends(authenticated),
) -> Response:
    services = services_of(request)
    return json_response(_view(services, *services.cash_ins.get(caller.client, internal_code)))


@router.get(
    "/cash-in",
    operation_id="find_charge",
    summary=(
        "Your charges, newest first, a page at a time; with externalReference alone,"
        " that one charge"
    ),
    response_model=ChargeBody | ChargePage,
    responses=errors(400, 401, 404),
)
def find_charge(
    request: Request,
    external_reference: str | None = REFERENCE_QUERY,
    status: ChargeStatus | None = Query(None),
    start: str | None = FROM_QUERY,
    end: str | None = TO_QUERY,
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
    caller: Caller = Depends(authenticated),
) -> Response:
    services = services_of(request)
    if external_reference is not None and set(request.query_params) == {"externalReference"}:
        # The answer before lists existed, which clients rely on: one object, or 404.
        found = services.cash_ins.find(caller.client, external_reference)
        return json_response(_view(services, *found))
    filters = filters_of(start, end, status.value if status else None, external_reference)
    after = decode_cursor(cursor, "charge", filters)
    page = services.listings.charges(caller.client, filters, after, limit)
    payments = [p for item in page.items for p in item.payments]
    refunds = services.refunds.of_payments([p.end_to_end_id for p in payments])
    items = [views.charge(i.charge, i.payments, services.participants, refunds) for i in page.items]
    return json_response(
        {"items": items, "nextCursor": encode_cursor("charge", filters, page.next)}
    )


@router.delete(
    "/cash-in/{internalCode}",
    summary="Cancel an ACTIVE charge: it takes no more payments",
    response_model=ChargeBody,
    responses=errors(400, 401, 404, 409),
)
def cancel_charge(
    request: Request,
    internal_code: str = Path(alias="internalCode", pattern=INTERNAL_CODE_PATTERN),
    caller: Caller = Depends(authenticated),
) -> Response:
    services = services_of(request)
    return json_response(_view(services, *services.cash_ins.cancel(caller.client, internal_code)))


@router.post(
    "/pix-keys",
    summary="Register a Pix key for your account: EVP (we make it), EMAIL, PHONE, CPF or CNPJ",
    status_code=201,
    response_model=PixKeyBody,
    responses=errors(400, 401, 409),
    openapi_extra=body(PixKeyIn, *_SIGNED),
)
async def register_pix_key(request: Request, caller: Caller = Depends(authenticated)) -> Response:
    services = services_of(request)
    _check_signature(request, caller)
    key = idempotency_key(request, required=True)
    assert key is not None
    data = parse_body(PixKeyIn, await json_body(request))
    registered = await run_in_threadpool(
        services.pix_keys.register, caller.client, data.type, data.key, key
    )
    return json_response(views.pix_key(registered), status=201)


@router.get("/pix-keys", summary="Your Pix keys, oldest first", responses=errors(401))
def list_pix_keys(request: Request, caller: Caller = Depends(authenticated)) -> Response:
    keys = services_of(request).pix_keys.of_client(caller.client)
    return json_response({"items": [views.pix_key(k) for k in keys]})


@router.delete(
    "/pix-keys/{key}",
    summary="Remove one of your Pix keys from DICT",
    status_code=204,
    responses=errors(400, 401, 404),
)
def delete_pix_key(
    request: Request,
    # A Pix key is printable ASCII in every form DICT takes.
    key: str = Path(pattern=r"^[!-~]{1,77}$"),
    caller: Caller = Depends(authenticated),
) -> Response:
    services_of(request).pix_keys.delete(caller.client, key)
    return Response(status_code=204)


@router.get(
    "/cash-in/{internalCode}/qrcode.{format}",
    summary="A charge's BR Code as a QR image (png or svg) that decodes to brCode",
    responses={
        **errors(400, 401, 404),
        200: {"content": {"image/png": {}, "image/svg+xml": {}}},
    },
)
def charge_qr_code(
    request: Request,
    internal_code: str = Path(alias="internalCode", pattern=INTERNAL_CODE_PATTERN),
    image_format: str = Path(alias="format", pattern=r"^(png|svg)$"),
    caller: Caller = Depends(authenticated),
) -> Response:
    charge, _ = services_of(request).cash_ins.get(caller.client, internal_code)
    if image_format == "png":
        return Response(qrcode.png(charge.br_code), media_type="image/png")
    return Response(qrcode.svg(charge.br_code), media_type="image/svg+xml")
