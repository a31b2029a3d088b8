"""The hottest routes, answered without FastAPI's routing and dependency machinery.

A cash-out spent about a third of the server's Python in FastAPI itself: matching the
path against every route in turn, solving the route's dependencies, wrapping the
request. Here a ``POST /cash-out`` (or ``/cash-out/batch``) is found with one dict
look-up and its endpoint called with its caller, exactly as FastAPI would call it: the
same function, the same ``authenticated`` dependency, the app's own exception handlers.
The routes stay registered with FastAPI, which still describes them (OpenAPI) and
answers every other method on their paths.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from connectpsp.api.deps import authenticated
from connectpsp.service.auth import Caller

__all__ = ["DirectRoutes", "SignedEndpoint"]

# An endpoint of a route whose one dependency is ``authenticated``.
SignedEndpoint = Callable[[Request, Caller], Awaitable[Response]]


class DirectRoutes:
    """Pure ASGI, inside ``RequestContext`` (so the request id, the body cap, the access
    log and the metrics apply as to any route) and in front of FastAPI's router."""

    def __init__(self, app: Any, *, routes: list[APIRoute]) -> None:
        self.app = app
        self._routes: dict[tuple[str, str], APIRoute] = {}
        for route in routes:
            calls = [dependency.call for dependency in route.dependant.dependencies]
            if calls != [authenticated] or route.dependant.path_params:
                raise ValueError(f"{route.path} is not a signed route with a fixed path")
            for method in route.methods or ():
                self._routes[(method, route.path)] = route
        if not self._routes:
            raise ValueError("no route to answer directly")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        route = (
            self._routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # as the router leaves it: the metrics' label
        request = Request(scope, receive, send)
        endpoint: SignedEndpoint = route.endpoint
        try:
            response = await endpoint(request, await authenticated(request))
        except Exception as error:
            handler = _handler_for(scope["app"].exception_handlers, error)
            if handler is None:
                raise  # as from the router: RequestContext answers 500
            response = await _call(handler, request, error)
        await response(scope, receive, send)


Handler = Callable[[Request, Exception], Any]


def _handler_for(handlers: dict[Any, Handler], error: Exception) -> Handler | None:
    """The app's handler for ``error``, looked up as Starlette's ExceptionMiddleware does:
    by the error's class, then its bases."""
    for kind in type(error).__mro__:
        if kind in handlers:
            return handlers[kind]
    return None


async def _call(handler: Handler, request: Request, error: Exception) -> Response:
    if inspect.iscoroutinefunction(handler):
        found: Response = await handler(request, error)
        return found
    answer: Response = await run_in_threadpool(handler, request, error)
    return answer
