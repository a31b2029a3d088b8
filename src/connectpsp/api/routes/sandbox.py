"""Sandbox actions (mounted in sandbox mode only): arranging the simulated Pix network."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from connectpsp.api.deps import authenticated, body, errors, json_body, json_response, services_of
from connectpsp.api.schemas import DictKeyIn, parse_dict_key
from connectpsp.domain.cashout import Creditor
from connectpsp.service.auth import Caller

__all__ = ["router"]

router = APIRouter(prefix="/sandbox", tags=["sandbox"])


@router.post(
    "/dict/keys",
    summary="Register a Pix key in the sandbox DICT (sandbox mode only)",
    status_code=201,
    responses=errors(400, 401, 409),
    openapi_extra=body(DictKeyIn),
)
async def register_dict_key(request: Request, _: Caller = Depends(authenticated)) -> Response:
    services = services_of(request)
    data = parse_dict_key(await json_body(request), services.participants)
    account = data.account
    owner = Creditor(
        data.owner.name,
        data.owner.document,
        account.ispb,
        account.branch,
        account.account,
        account.account_type,
    )
    await run_in_threadpool(
        services.sandbox_dict.register_key, data.key_type, data.key, owner, data.reject_with
    )
    return json_response(data.model_dump(mode="json", by_alias=True), status=201)
