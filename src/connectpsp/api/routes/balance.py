"""A client's balance."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from connectpsp.api import views
from connectpsp.api.deps import authenticated, errors, json_response, services_of
from connectpsp.api.schemas import BalanceBody
from connectpsp.service.auth import Caller

__all__ = ["router"]

router = APIRouter(tags=["balance"])


@router.get(
    "/balance",
    summary="Available, reserved, blocked and total balance",
    response_model=BalanceBody,
    responses=errors(400, 401),
)
def get_balance(request: Request, caller: Caller = Depends(authenticated)) -> Response:
    return json_response(views.balance(*services_of(request).clients.holdings(caller.client.id)))
