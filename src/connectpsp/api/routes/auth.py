"""Access tokens: a client's id and secret exchanged for a Bearer token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from connectpsp.api.deps import body, errors, json_body, json_response, services_of
from connectpsp.api.schemas import TokenIn, TokenOut, parse_token_request

__all__ = ["router"]

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/token",
    summary="Exchange clientId and clientSecret for an access token",
    response_model=TokenOut,
    responses=errors(400, 401, 429),
    openapi_extra=body(TokenIn),
)
async def issue_token(request: Request) -> Response:
    data = parse_token_request(await json_body(request))
    ip = request.client.host if request.client else "unknown"
    token, expires_in = await run_in_threadpool(
        services_of(request).auth.issue_token, data.client_id, data.client_secret, ip
    )
    return json_response({"accessToken": token, "tokenType": "Bearer", "expiresIn": expires_in})
