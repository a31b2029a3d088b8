"""MED: the fraud reports against Pix a client received (``GET /infractions``), and, in
the sandbox, a payer's PSP making one (``POST /sandbox/med/infractions``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from connectpsp.api.deps import (
    authenticated,
    body,
    errors,
    json_body,
    json_response,
    services_of,
)
from connectpsp.api.refund_schemas import END_TO_END_PATTERN
from connectpsp.api.schemas import Amount, _In, parse_body
from connectpsp.domain.errors import NotFound
from connectpsp.domain.infraction_payloads import infraction_json
from connectpsp.domain.infractions import InfractionStatus
from connectpsp.service.auth import Caller

__all__ = ["router", "sandbox_router"]

router = APIRouter(tags=["med"])
sandbox_router = APIRouter(prefix="/sandbox", tags=["sandbox"])
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class InfractionIn(_In):
    end_to_end_id: str = Field(pattern=END_TO_END_PATTERN, description="The Pix reported")
    amount: Amount | None = Field(default=None, description="All of the Pix by default")
    details: str | None = Field(default=None, max_length=500)


@router.get(
    "/infractions",
    summary="Fraud reports (MED) against Pix you received, newest first",
    responses=errors(400, 401),
)
def list_infractions(
    request: Request,
    status: InfractionStatus | None = Query(default=None),
    limit: int = Query(default=100, ge=1, le=1000),
    caller: Caller = Depends(authenticated),
) -> Response:
    found = services_of(request).infractions.listed(
        client_id=caller.client.id, status=status, limit=limit
    )
    return json_response({"items": [infraction_json(i) for i in found]})


@router.get(
    "/infractions/{infractionId}",
    summary="A fraud report (MED): OPEN with its funds blocked, then ACCEPTED or REJECTED",
    responses=errors(400, 401, 404),
)
def get_infraction(
    request: Request,
    infraction_id: str = Path(alias="infractionId", pattern=_UUID),
    caller: Caller = Depends(authenticated),
) -> Response:
    found = services_of(request).infractions.get(caller.client, infraction_id)
    return json_response(infraction_json(found))


@sandbox_router.post(
    "/med/infractions",
    summary="Play a payer's PSP reporting a Pix you received as fraud (sandbox mode only)",
    status_code=201,
    responses=errors(400, 401, 404, 409),
    openapi_extra=body(InfractionIn),
)
async def report_infraction(request: Request, caller: Caller = Depends(authenticated)) -> Response:
    services = services_of(request)
    data = parse_body(InfractionIn, await json_body(request))
    if not services.cash_ins.received_by(caller.client, data.end_to_end_id):
        raise NotFound(f"No Pix {data.end_to_end_id} received by you.")
    reported = await run_in_threadpool(
        services.infractions.report, data.end_to_end_id, data.amount, data.details
    )
    return json_response(infraction_json(reported), status=201)
