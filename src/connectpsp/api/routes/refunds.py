"""Refunds: a client sends back (part of) a Pix it received (BCB's ``devolucao``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Path, Request, Response

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
from connectpsp.api.refund_schemas import RefundBody, RefundIn, parse_refund
from connectpsp.domain.errors import InvalidSignature
from connectpsp.domain.refund_payloads import refund_json
from connectpsp.service.auth import Caller

__all__ = ["router"]

router = APIRouter(tags=["cash-in"])
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


_SIGNED_AND_KEYED = body(
    RefundIn,
    (
        "DigitalSignature",
        "Lowercase hex HMAC-SHA256 of the access token, keyed with your cryptoToken",
    ),
    ("X-Idempotency-Key", "Unique per request; a UUID is a good choice"),
)


def _accepted(operation_id: str, parameters: dict[str, str]) -> dict[int | str, dict[str, Any]]:
    """The 202's documentation, with a link to the operation that reads the refund."""
    link = {"operationId": operation_id, "parameters": parameters}
    return {
        **errors(400, 401, 404, 422),
        202: {"model": RefundBody, "headers": IDEMPOTENT_REPLAYED, "links": {"GetRefund": link}},
    }


async def _create(request: Request, internal_code: str | None, caller: Caller) -> Response:
    services = services_of(request)
    signature = single_header(request, "DigitalSignature", InvalidSignature)
    services.auth.check_signature(caller, signature)
    key = idempotency_key(request, required=True)
    assert key is not None
    refund_request = parse_refund(internal_code, await json_body(request))
    future = services.refunds.submit(caller.client, key, refund_request)
    decided = await asyncio.wrap_future(future)
    return respond(decided, lambda refund: (202, refund_json(refund)))


@router.post(
    "/cash-in/{internalCode}/refunds",
    summary="Refund (part of) a payment the charge received: 202, then a webhook",
    status_code=202,
    response_model=RefundBody,
    responses=_accepted(
        "get_refund",
        {"internalCode": "$response.body#/internalCode", "refundId": "$response.body#/refundId"},
    ),
    openapi_extra=_SIGNED_AND_KEYED,
)
async def create_refund(
    request: Request,
    internal_code: str = Path(alias="internalCode", pattern=INTERNAL_CODE_PATTERN),
    caller: Caller = Depends(authenticated),
) -> Response:
    return await _create(request, internal_code, caller)


@router.post(
    "/refunds",
    summary="Refund (part of) any Pix you received, by its endToEndId: 202, then a webhook",
    description=(
        "For a Pix sent to one of your keys with no charge, or any other: the body's "
        "`endToEndId` is required. The same rules and answers as a charge's refunds."
    ),
    status_code=202,
    response_model=RefundBody,
    responses=_accepted("get_refund_by_id", {"refundId": "$response.body#/refundId"}),
    openapi_extra=_SIGNED_AND_KEYED,
)
async def create_refund_of_pix(
    request: Request, caller: Caller = Depends(authenticated)
) -> Response:
    return await _create(request, None, caller)


@router.get(
    "/cash-in/{internalCode}/refunds/{refundId}",
    operation_id="get_refund",
    summary="A refund: PROCESSING, then COMPLETED or FAILED",
    response_model=RefundBody,
    responses=errors(400, 401, 404),
)
def get_refund(
    request: Request,
    internal_code: str = Path(alias="internalCode", pattern=INTERNAL_CODE_PATTERN),
    refund_id: str = Path(alias="refundId", pattern=_UUID),
    caller: Caller = Depends(authenticated),
) -> Response:
    refund = services_of(request).refunds.get(caller.client, internal_code, refund_id)
    return json_response(refund_json(refund))


@router.get(
    "/refunds/{refundId}",
    operation_id="get_refund_by_id",
    summary="Any of your refunds (a MED infraction's refundId too)",
    response_model=RefundBody,
    responses=errors(400, 401, 404),
)
def get_refund_by_id(
    request: Request,
    refund_id: str = Path(alias="refundId", pattern=_UUID),
    caller: Caller = Depends(authenticated),
) -> Response:
    refund = services_of(request).refunds.get(caller.client, None, refund_id)
    return json_response(refund_json(refund))
