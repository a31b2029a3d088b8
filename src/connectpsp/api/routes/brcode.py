"""Reading a BR Code ("Pix copia e cola") as a payer's PSP would, before paying it.

Authenticated as every POST of the cash-in API (issue 15): Bearer, ApplicationToken and
DigitalSignature. It takes no X-Idempotency-Key: a decode stores and moves nothing, so
the same body always gets the same answer, and there is no first answer to keep."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from connectpsp import brcode
from connectpsp.api import views
from connectpsp.api.deps import (
    authenticated,
    body,
    errors,
    json_body,
    json_response,
    services_of,
    single_header,
)
from connectpsp.api.schemas import BrCodeBody, BrCodeIn, parse_body
from connectpsp.domain.errors import InvalidBrCode, InvalidSignature
from connectpsp.service.auth import Caller

__all__ = ["router"]

router = APIRouter(tags=["brcode"])


@router.post(
    "/brcode/decode",
    summary="Read a BR Code: its key or location, amount, merchant and txid",
    response_model=BrCodeBody,
    responses=errors(400, 401),
    openapi_extra=body(
        BrCodeIn,
        (
            "DigitalSignature",
            "Lowercase hex HMAC-SHA256 of the access token, keyed with your cryptoToken",
        ),
    ),
)
async def decode_brcode(request: Request, caller: Caller = Depends(authenticated)) -> Response:
    services = services_of(request)
    services.auth.check_signature(
        caller, single_header(request, "DigitalSignature", InvalidSignature)
    )
    data = parse_body(BrCodeIn, await json_body(request))
    try:
        code = brcode.decode(data.br_code)
    except brcode.BrCodeError as refused:
        details = {"reason": refused.reason, "field": refused.field}
        raise InvalidBrCode(refused.message, details) from None
    return json_response(views.br_code(code))
