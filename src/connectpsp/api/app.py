"""The ASGI application: routes for the seed's API, and its OpenAPI description."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from connectpsp import __version__
from connectpsp.adapters.participants import load_participants
from connectpsp.adapters.rails.simulated import DictKey
from connectpsp.api import views
from connectpsp.api.deps import (
    AUTH_HEADERS,
    BODY_MODELS,
    INTERNAL_CODE_PATTERN,
    REFERENCE_PATTERN,
    authenticated,
    body,
    container_of,
    errors,
    header_docs,
    idempotency_key,
    json_body,
    json_response,
    respond,
    single_header,
)
from connectpsp.api.errors import install_handlers
from connectpsp.api.middleware import RequestContext
from connectpsp.api.schemas import (
    AcceptedBody,
    BalanceBody,
    CashOutBody,
    CashOutIn,
    DictKeyIn,
    TokenIn,
    TokenOut,
    parse_cash_out,
    parse_dict_key,
    parse_token_request,
)
from connectpsp.api.webhooks import router as webhooks_router
from connectpsp.bootstrap import Container
from connectpsp.domain.cashout import Creditor
from connectpsp.domain.errors import InvalidSignature, StorageUnavailable
from connectpsp.service.auth import Caller

__all__ = ["create_app"]

router = APIRouter()
_CLIENT_ERRORS = errors(400, 401, 404)

# On an answer replayed for a repeated X-Idempotency-Key (see ``create_cash_out``).
IDEMPOTENT_REPLAYED: dict[str, Any] = {
    "Idempotent-Replayed": {
        "description": (
            "`true` when this is the stored answer to an earlier request with the same "
            "X-Idempotency-Key and body, replayed byte for byte; absent on a first answer"
        ),
        "required": False,
        "schema": {"type": "string", "enum": ["true"]},
    }
}
# On every answer, set by ``RequestContext`` (api/middleware.py).
REQUEST_ID: dict[str, Any] = {
    "X-Request-Id": {
        "description": (
            "The request's id, also on the server's log lines: the X-Request-Id sent with "
            "the request if it is 1-64 of [A-Za-z0-9._-], otherwise a new 32-hex-digit id"
        ),
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
    }
}


@router.post(
    "/auth/token",
    tags=["auth"],
    summary="Exchange clientId and clientSecret for an access token",
    response_model=TokenOut,
    responses=errors(400, 401, 429),
    openapi_extra=body(TokenIn),
)
async def issue_token(request: Request) -> Response:
    data = parse_token_request(await json_body(request))
    ip = request.client.host if request.client else "unknown"
    token, expires_in = await run_in_threadpool(
        container_of(request).auth.issue_token, data.client_id, data.client_secret, ip
    )
    return json_response({"accessToken": token, "tokenType": "Bearer", "expiresIn": expires_in})


@router.post(
    "/cash-out",
    tags=["cash-out"],
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
    container = container_of(request)
    signature = single_header(request, "DigitalSignature", InvalidSignature)
    container.auth.check_signature(caller, signature)
    key = idempotency_key(request, required=True)
    assert key is not None
    data = await json_body(request)
    cash_out_request = parse_cash_out(
        data, load_participants(), caller.client.per_transaction_limit
    )
    if cash_out_request.webhook_url is not None:
        container.endpoints.check_cash_out_url(cash_out_request.webhook_url)
    # Awaited, not run in a thread: the engine decides it with the others queued now.
    decided = await asyncio.wrap_future(
        container.cash_outs.submit(caller.client, key, cash_out_request)
    )
    return respond(decided, lambda accepted: (202, views.accepted(accepted)))


@router.get(
    "/cash-out/{internalCode}",
    operation_id="get_cash_out",
    tags=["cash-out"],
    summary="A cash-out's status",
    response_model=CashOutBody,
    responses=_CLIENT_ERRORS,
)
def get_cash_out(
    request: Request,
    internal_code: str = Path(alias="internalCode", pattern=INTERNAL_CODE_PATTERN),
    caller: Caller = Depends(authenticated),
) -> Response:
    return json_response(
        views.cash_out(container_of(request).cash_outs.get(caller.client, internal_code))
    )


@router.get(
    "/cash-out",
    operation_id="find_cash_out",
    tags=["cash-out"],
    summary="Find a cash-out by your externalReference (after a timed-out POST, say)",
    response_model=CashOutBody,
    responses=_CLIENT_ERRORS,
)
def find_cash_out(
    request: Request,
    external_reference: str = Query(alias="externalReference", pattern=REFERENCE_PATTERN),
    caller: Caller = Depends(authenticated),
) -> Response:
    found = container_of(request).cash_outs.find(caller.client, external_reference)
    return json_response(views.cash_out(found))


@router.get(
    "/balance",
    tags=["balance"],
    summary="Available, reserved and total balance",
    response_model=BalanceBody,
    responses=errors(400, 401),
)
def get_balance(request: Request, caller: Caller = Depends(authenticated)) -> Response:
    return json_response(views.balance(container_of(request).clients.balance(caller.client.id)))


sandbox = APIRouter(prefix="/sandbox", tags=["sandbox"])


@sandbox.post(
    "/dict/keys",
    summary="Register a Pix key in the sandbox DICT (sandbox mode only)",
    status_code=201,
    responses=errors(400, 401, 409),
    openapi_extra=body(DictKeyIn),
)
async def register_dict_key(request: Request, _: Caller = Depends(authenticated)) -> Response:
    body = parse_dict_key(await json_body(request), load_participants())
    account = body.account
    entry = DictKey(
        key_type=body.key_type,
        key=body.key,
        owner=Creditor(
            body.owner.name,
            body.owner.document,
            account.ispb,
            account.branch,
            account.account,
            account.account_type,
        ),
        reject_with=body.reject_with,
    )
    await run_in_threadpool(container_of(request).network.register, entry)
    return json_response(body.model_dump(mode="json", by_alias=True), status=201)


@router.get(
    "/healthz",
    tags=["operations"],
    summary="200 when the database is reachable",
    responses=errors(),
)
def healthz(request: Request) -> Response:
    if not container_of(request).db.ping():
        raise StorageUnavailable()
    return json_response({"status": "ok"})


def _describe_what_routes_check_themselves(schema: dict[str, Any], routes: list[Any]) -> None:
    """The auth headers of every route that depends on ``authenticated``, and the 413 and
    415 of every route that reads a body (answered before the route's own work)."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    too_large = {
        "description": "The body is larger than CONNECTPSP_MAX_BODY_BYTES",
        "content": error,
    }
    not_json = {"description": "The body is not sent as application/json", "content": error}
    for route in routes:
        if not isinstance(route, APIRoute) or route.path not in schema["paths"]:
            continue
        authed = any(d.call is authenticated for d in route.dependant.dependencies)
        for method in route.methods or ():
            operation = schema["paths"][route.path].get(method.lower())
            if operation is None:
                continue
            if authed:
                operation["parameters"] = [
                    *header_docs(AUTH_HEADERS),
                    *operation.get("parameters", []),
                ]
            if "requestBody" in operation:
                operation["responses"].setdefault("413", too_large)
                operation["responses"].setdefault("415", not_json)


def _describe_response_headers(schema: dict[str, Any]) -> None:
    """``X-Request-Id`` on every answer; ``Idempotent-Replayed`` also on the refusals of
    POST /cash-out that are stored against a key (and so replayed like its 202)."""
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation.get("responses", {}).items():
                headers = {**answer.get("headers", {}), **REQUEST_ID}  # a copy: never shared
                if (path, method, status) in _REPLAYED_REFUSALS:
                    headers.update(IDEMPOTENT_REPLAYED)
                answer["headers"] = headers


# INSUFFICIENT_BALANCE, LIMIT_EXCEEDED (422) and DUPLICATE_EXTERNAL_REFERENCE (409).
_REPLAYED_REFUSALS = {("/cash-out", "post", "409"), ("/cash-out", "post", "422")}


def create_app(container: Container, *, worker: bool = False) -> FastAPI:
    """The API; with ``worker``, the settlement worker runs in a thread while it serves."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # What start-up made (modules, tables, the participant list) lives as long as the
        # process: out of the collector's way, a full collection scans only what serving
        # made since. Before, one took ~100 ms under load, and every request waited.
        gc.collect()
        gc.freeze()
        if worker:
            container.worker.start()
        try:
            yield
        finally:
            if worker:
                await run_in_threadpool(container.worker.stop)

    app = FastAPI(
        title="ConnectPSP",
        version=__version__,
        description="Pix cash-out API: tokens, signed cash-outs, status, balance.",
        lifespan=lifespan,
    )
    app.state.container = container
    install_handlers(app)
    app.include_router(router)
    app.include_router(webhooks_router)
    if container.settings.sandbox:
        app.include_router(sandbox)
    app.add_middleware(RequestContext, max_body=container.settings.max_body_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            # Request validation answers 400 VALIDATION_ERROR in our error shape, never
            # FastAPI's default 422; drop the default from the description.
            for path in schema["paths"].values():
                for operation in path.values():
                    answer = operation.get("responses", {}).get("422", {})
                    ref = str(answer.get("content", {}).get("application/json", {}))
                    if "HTTPValidationError" in ref:
                        del operation["responses"]["422"]
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            _describe_what_routes_check_themselves(
                schema, [*router.routes, *webhooks_router.routes, *sandbox.routes]
            )
            _describe_response_headers(schema)
            for model in BODY_MODELS:
                js = model.model_json_schema(
                    by_alias=True, ref_template="#/components/schemas/{model}"
                )
                components.update(js.pop("$defs", {}))
                components[model.__name__] = js
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
