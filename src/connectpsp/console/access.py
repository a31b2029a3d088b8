"""Signing in and out of the console: the login form (throttled, CSRF double submit)
and logout (a form with the session's CSRF token)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from connectpsp.console.web import ConsoleWeb, LoginRequired, Refused, source_of
from connectpsp.domain.errors import InvalidCredentials, RateLimited

__all__ = ["access_routes"]

HOME = "/console/"


def _next(target: str | None) -> str:
    """Where to go once signed in: a console page, never another site."""
    if target and target.startswith("/console/") and "//" not in target and "\\" not in target:
        return target
    return HOME


def access_routes(web: ConsoleWeb) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)

    @router.get("/login")
    async def login_form(request: Request, next: str | None = None) -> Response:
        try:
            await web.signed_in(request)
            return web.redirect(_next(next))
        except LoginRequired:
            pass
        token, fresh = web.login_token(request)
        answer = web.page("login.html", next=_next(next), csrf=token, error=None)
        if fresh:
            web.remember_login_token(answer, token)
        return answer

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await web.form(request)
        expected = request.cookies.get(web.login_cookie)
        if not expected:
            raise Refused(403, "Your login form has expired: open it again.")
        web.check_csrf(expected, form)
        email, password = form.get("email", ""), form.get("password", "")
        target = _next(form.get("next"))
        try:
            signed_in = await run_in_threadpool(
                lambda: web.services.operators.login(email, password, source=source_of(request))
            )
        except InvalidCredentials as error:
            return web.page(
                "login.html", status=401, next=target, csrf=expected, error=error.message
            )
        except RateLimited as error:
            return web.page(
                "login.html",
                status=429,
                headers={"Retry-After": str(error.retry_after_seconds)},
                next=target,
                csrf=expected,
                error=error.message,
            )
        answer = web.redirect(target)
        web.open_session(answer, signed_in)
        return answer

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        who = await web.signed_in(request)
        web.check_csrf(who.csrf, await web.form(request))
        await run_in_threadpool(
            lambda: web.services.operators.logout(who, source=source_of(request))
        )
        answer = web.redirect("/console/login")
        web.close_session(answer)
        return answer

    return router
