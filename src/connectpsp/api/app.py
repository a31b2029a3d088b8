"""The ASGI application: the feature routers (``api/routes``) mounted over the services it
is given, and its OpenAPI description."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from connectpsp import __version__
from connectpsp.api.deps import (
    AUTH_HEADERS,
    BODY_MODELS,
    IDEMPOTENT_REPLAYED,
    authenticated,
    header_docs,
)
from connectpsp.api.direct import DirectRoutes
from connectpsp.api.errors import install_handlers
from connectpsp.api.middleware import RequestContext
from connectpsp.api.routes import (
    auth,
    balance,
    batch,
    brcode,
    cash_ins,
    cash_outs,
    health,
    infractions,
    locations,
    metrics,
    refunds,
    sandbox,
    statement,
    webhooks,
)
from connectpsp.api.services import Background, Services
from connectpsp.console import ConsoleServices
from connectpsp.console import install as install_console
from connectpsp.logs import get_logger
from connectpsp.metrics import observe_request
from connectpsp.service.auth import CLIENT_CHANGES_EVERY

__all__ = ["create_app"]

_log = get_logger("connectpsp.api")

# Served always, in this order; ``sandbox.router`` too in sandbox mode.
ROUTERS = (
    auth.router,
    cash_outs.router,
    batch.router,
    cash_ins.router,
    refunds.router,
    infractions.router,
    balance.router,
    statement.router,
    brcode.router,
    health.router,
    webhooks.router,
    locations.router,
)

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


# What Swagger UI's "Authorize" dialog asks for, once for every operation that needs it.
SECURITY_SCHEMES: dict[str, Any] = {
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The `accessToken` from POST /auth/token; a new one after `expiresIn` s",
    },
    "ApplicationToken": {
        "type": "apiKey",
        "in": "header",
        "name": "ApplicationToken",
        "description": "The ApplicationToken issued with your client's credentials",
    },
    "DigitalSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "DigitalSignature",
        "description": (
            "Lowercase hex HMAC-SHA256 of the exact access token (what follows `Bearer `), "
            "keyed with your cryptoToken; computed anew for every new token"
        ),
    },
}
# Routes that check the signature name it among their required headers (``deps.body``).
_SIGNATURE = "DigitalSignature"


def _describe_what_routes_check_themselves(schema: dict[str, Any], routes: list[Any]) -> None:
    """The auth headers and security schemes of every route that depends on
    ``authenticated``, and the 413 and 415 of every route that reads a body (answered
    before the route's own work)."""
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
                signed = any(p["name"] == _SIGNATURE for p in operation.get("parameters", []))
                required = ["Bearer", "ApplicationToken", *([_SIGNATURE] if signed else [])]
                operation["security"] = [{name: [] for name in required}]
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
# The routes every payout takes, answered by ``DirectRoutes`` (POST only).
DIRECT_PATHS = frozenset({"/cash-out", "/cash-out/batch"})
_REPLAYED_REFUSALS = {("/cash-out", "post", "409"), ("/cash-out", "post", "422")}


async def _follow_client_changes(services: Services) -> None:
    """While the app serves: a change another process made to a client (disabled, a new
    secret, new limits) shows here within a second, not when this process's memory of
    the client lapses. A look that fails is logged once, and the next ones go on."""
    failing = False
    while True:
        try:
            await run_in_threadpool(services.follow_client_changes)
            failing = False
        except Exception as error:
            if not failing:
                _log.warning("client_changes_unread", error_type=type(error).__name__)
            failing = True
        await asyncio.sleep(CLIENT_CHANGES_EVERY)


def create_app(
    services: Services,
    *,
    background: Background | None = None,
    console: ConsoleServices | None = None,
) -> FastAPI:
    """The API over ``services``; ``background`` (the settlement worker, say) is started
    when the app starts and stopped when it stops; with ``console``, the operator console
    is served at /console (out of the OpenAPI description), and ``/`` leads to it too."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # What start-up made (modules, tables, the participant list) lives as long as the
        # process: out of the collector's way, a full collection scans only what serving
        # made since. Before, one took ~100 ms under load, and every request waited.
        gc.collect()
        gc.freeze()
        if background is not None:
            background.start()
        following = asyncio.create_task(_follow_client_changes(services))
        try:
            yield
        finally:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
            if background is not None:
                await run_in_threadpool(background.stop)

    # /docs and /redoc with Swagger UI and ReDoc served from the package, never a CDN:
    # the reference works on a machine that reaches nothing.
    app = FastAPIOffline(
        title="ConnectPSP",
        version=__version__,
        description="Pix cash-out API: tokens, signed cash-outs, status, balance.",
        lifespan=lifespan,
    )

    if console is not None:
        install_console(app, console)
    else:

        @app.get("/", include_in_schema=False)
        async def home() -> RedirectResponse:
            return RedirectResponse("/docs")

    app.state.services = services
    install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    if services.settings.sandbox:
        app.include_router(sandbox.router)
        app.include_router(infractions.sandbox_router)
    measured = services.settings.metrics
    if measured:
        app.include_router(metrics.router)
    # Added before RequestContext, so inside it: the hot routes' own lane (api.direct).
    app.add_middleware(
        DirectRoutes,
        routes=[
            route
            for router in ROUTERS  # ``app.routes`` holds each included router whole
            for route in router.routes
            if isinstance(route, APIRoute)
            and route.methods == {"POST"}
            and route.path in DIRECT_PATHS
        ],
    )
    app.add_middleware(
        RequestContext,
        max_body=services.settings.max_body_bytes,
        observe=observe_request if measured else None,
        larger={("POST", "/cash-out/batch"): services.settings.max_batch_body_bytes},
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            components = schema["components"].setdefault("schemas", {})
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
            # The routers' own routes: ``app.routes`` holds each included router whole.
            _describe_what_routes_check_themselves(
                schema,
                [
                    route
                    for r in (*ROUTERS, sandbox.router, infractions.sandbox_router)
                    for route in r.routes
                ],
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
