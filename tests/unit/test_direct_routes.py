"""The hot routes' own lane (``api.direct``): answered without FastAPI's router, with the
same dependency, the app's exception handlers and the route left for the metrics."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute

from connectpsp.api.app import DIRECT_PATHS, create_app
from connectpsp.api.deps import authenticated
from connectpsp.api.direct import DirectRoutes
from connectpsp.api.errors import install_handlers
from connectpsp.domain.errors import InsufficientBalance, Unauthorized
from connectpsp.service.auth import Caller
from tests.unit.test_api_services import FakeServices, serving


class Auth:
    """Lets "Bearer good" in, from memory; anything else is refused."""

    def authenticate_from_memory(self, authorization: str | None, _: str | None) -> Any:
        if authorization != "Bearer good":
            raise Unauthorized()
        return SimpleNamespace(client=SimpleNamespace(id="c1"))


router = APIRouter()
seen: list[Any] = []


@router.post("/pay")
async def pay(request: Request, caller: Caller = Depends(authenticated)) -> Response:
    seen.append(request.scope.get("route"))
    if request.headers.get("x-short"):
        raise InsufficientBalance()
    return Response(caller.client.id, media_type="text/plain")


@router.get("/pay")
async def list_payments() -> Response:
    return Response("listed")


@router.post("/pay/{code}")
async def pay_one(code: str, caller: Caller = Depends(authenticated)) -> Response:
    return Response(code)


def route(path: str, method: str) -> APIRoute:
    return next(
        r
        for r in router.routes
        if isinstance(r, APIRoute) and r.path == path and r.methods == {method}
    )


def app_with_lane(inner_calls: list[str]) -> FastAPI:
    app = FastAPI()
    app.state.services = SimpleNamespace(auth=Auth())
    install_handlers(app)
    app.include_router(router)

    # Records what reaches FastAPI's own routing, inside the lane.
    class Inner:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                inner_calls.append(f"{scope['method']} {scope['path']}")
            await self.app(scope, receive, send)

    app.add_middleware(Inner)
    app.add_middleware(DirectRoutes, routes=[route("/pay", "POST")])
    return app


def test_the_lane_answers_its_route_without_fastapis_routing() -> None:
    inner: list[str] = []
    seen.clear()
    with serving(app_with_lane(inner)) as url, httpx.Client(base_url=url) as http:
        paid = http.post("/pay", headers={"Authorization": "Bearer good"})
        listed = http.get("/pay")
    assert (paid.status_code, paid.text) == (200, "c1")
    assert (listed.status_code, listed.text) == (200, "listed")
    assert inner == ["GET /pay"]  # the POST never reached the router
    assert [r.path for r in seen] == ["/pay"]  # left in the scope for the metrics


def test_the_lane_renders_errors_with_the_apps_handlers() -> None:
    with serving(app_with_lane([])) as url, httpx.Client(base_url=url) as http:
        refused = http.post("/pay", headers={"Authorization": "Bearer bad"})
        short = http.post("/pay", headers={"Authorization": "Bearer good", "X-Short": "1"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == Unauthorized.code
    assert short.status_code == 422
    assert short.json()["error"]["code"] == InsufficientBalance.code


def test_only_signed_routes_with_a_fixed_path_take_the_lane() -> None:
    for unfit in (route("/pay", "GET"), route("/pay/{code}", "POST")):
        with pytest.raises(ValueError, match="signed route with a fixed path"):
            DirectRoutes(None, routes=[unfit])
    with pytest.raises(ValueError, match="no route"):
        DirectRoutes(None, routes=[])


def test_the_app_sends_every_payout_through_the_lane() -> None:
    app = create_app(FakeServices())
    [lane] = [m for m in app.user_middleware if m.cls is cast(Any, DirectRoutes)]
    routes: list[APIRoute] = cast(Any, lane.kwargs)["routes"]
    assert {(r.path, *(r.methods or ())) for r in routes} == {
        (path, "POST") for path in DIRECT_PATHS
    }
    assert {"/cash-out", "/cash-out/batch"} == DIRECT_PATHS
