"""The operator console, mounted on the API's app at /console, out of its OpenAPI: the
routes, its own static files (never a CDN: it works offline), and how a page without a
session or a refused action answers."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from connectpsp.console.access import access_routes
from connectpsp.console.cashins import cash_in_routes
from connectpsp.console.cashouts import cash_out_routes
from connectpsp.console.clients import client_routes
from connectpsp.console.pages import page_routes
from connectpsp.console.refunds import refund_routes
from connectpsp.console.replay import replay_routes
from connectpsp.console.sandbox import sandbox_routes
from connectpsp.console.services import ConsoleServices
from connectpsp.console.web import ConsoleWeb, LoginRequired, Refused
from connectpsp.console.webhooks import webhook_routes

__all__ = ["install"]


def install(app: FastAPI, services: ConsoleServices) -> None:
    """Mount the console on ``app``, and make ``/`` a page that leads to it and to the
    API reference."""
    web = ConsoleWeb(services)
    app.include_router(access_routes(web))
    app.include_router(page_routes(web))
    app.include_router(client_routes(web))
    app.include_router(cash_out_routes(web))
    app.include_router(cash_in_routes(web))
    app.include_router(refund_routes(web))
    app.include_router(webhook_routes(web))
    app.include_router(replay_routes(web))
    if services.settings.sandbox:  # elsewhere its routes answer 404, as the API's do
        app.include_router(sandbox_routes(web))
    app.mount(
        "/console/static",
        StaticFiles(packages=[("connectpsp.console", "static")]),
        name="console-static",
    )

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return web.page("home.html")

    async def login_required(request: Request, _: Exception) -> Response:
        # A page sends the browser to the form, and back once signed in; an action
        # without a session is refused: nothing is done on a stale or forged request.
        answer: Response
        if request.method in ("GET", "HEAD"):
            back = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            answer = web.redirect(f"/console/login?next={back}")
        else:
            answer = web.page(
                "error.html", status=401, message="You are not signed in.", login=True
            )
        if request.cookies.get(web.session_cookie):
            web.close_session(answer)  # an ended session's cookie goes too
        return answer

    async def refused(request: Request, error: Exception) -> Response:
        if not isinstance(error, Refused):  # only registered for Refused
            raise error
        return web.page(
            "error.html",
            status=error.status,
            headers=error.headers,
            message=error.message,
            login=False,
        )

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(Refused, refused)
