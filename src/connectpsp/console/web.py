"""The console's plumbing: templates and their filters, the session cookie, CSRF, forms,
and the headers every page carries.

- The session cookie is HttpOnly and SameSite=Strict; outside the sandbox it is also
  Secure and named with the ``__Host-`` prefix (so no subdomain can set or shadow it).
- Every form carries a CSRF token, compared in constant time: once signed in, the
  session's own (``SignedIn.csrf``); on the login form, before there is a session, a
  random one that must match a cookie set with the form (double submit).
- Only the cookie opens a session: an API client's ``Authorization: Bearer`` token is
  never read here.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool

from connectpsp.api.errors import STATUS
from connectpsp.console.services import ConsoleServices
from connectpsp.domain.clock import SAO_PAULO
from connectpsp.domain.errors import ConnectPSPError
from connectpsp.domain.money import format_brl
from connectpsp.service.operators import SignedIn, csrf_matches

__all__ = ["ConsoleWeb", "LoginRequired", "Refused", "local_time", "source_of", "status_of"]

SESSION = "connectpsp_console"
LOGIN_CSRF = "connectpsp_console_login"
_FORM = "application/x-www-form-urlencoded"
_MAX_FIELDS = 16
HEADERS = {
    # Nothing but our own files: no inline script, no other host, no framing.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    """No open session: a page redirects to the login form, an action is refused."""


class Refused(Exception):
    """An answer other than the page asked for: its status and what to tell."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def local_time(moment: datetime | None) -> str:
    """As Brazil reads it, in America/Sao_Paulo: 05/12/2026 14:03:22 -03:00."""
    if moment is None:
        return "—"
    local = moment.astimezone(SAO_PAULO)
    offset = local.isoformat()[-6:]
    return local.strftime("%d/%m/%Y %H:%M:%S ") + offset


def _bps(bps: int) -> str:
    """Basis points as a percentage, Brazilian style: 150 -> 1,50%."""
    whole, part = divmod(bps, 100)
    return f"{whole},{part:02d}%"


def _shown(value: Any) -> str:
    """A value of an audited record: nothing as a dash, JSON's booleans as yes and no."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_templates = Environment(
    loader=PackageLoader("connectpsp.console", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters.update(brl=format_brl, local=local_time, bps=_bps, shown=_shown)


class ConsoleWeb:
    def __init__(self, services: ConsoleServices) -> None:
        self.services = services
        self._secure = not services.settings.sandbox
        prefix = "__Host-" if self._secure else ""
        self.session_cookie = prefix + SESSION
        self.login_cookie = prefix + LOGIN_CSRF

    # --- pages ----------------------------------------------------------------------

    def page(
        self,
        template: str,
        *,
        who: SignedIn | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        html = _templates.get_template(template).render(
            who=who, sandbox=self.services.settings.sandbox, **context
        )
        return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})

    def redirect(self, to: str) -> RedirectResponse:
        return RedirectResponse(to, status_code=303, headers=HEADERS)

    # --- sessions -------------------------------------------------------------------

    async def signed_in(self, request: Request) -> SignedIn:
        token = request.cookies.get(self.session_cookie)
        found = await run_in_threadpool(self.services.operators.session, token)
        if found is None:
            raise LoginRequired()
        return found

    def open_session(self, response: Response, signed_in: SignedIn) -> None:
        response.set_cookie(
            self.session_cookie,
            signed_in.token,
            # No Max-Age: it goes when the browser closes; the server ends it sooner
            # (service.operators: LIFETIME, IDLE).
            path="/",
            secure=self._secure,
            httponly=True,
            samesite="strict",
        )
        response.delete_cookie(self.login_cookie, path="/", secure=self._secure)

    def close_session(self, response: Response) -> None:
        response.delete_cookie(
            self.session_cookie, path="/", secure=self._secure, httponly=True, samesite="strict"
        )

    def login_token(self, request: Request) -> tuple[str, bool]:
        """The login form's CSRF token: the cookie's, or a new one (``True``) for
        ``remember_login_token`` to set."""
        token = request.cookies.get(self.login_cookie)
        if token and len(token) <= 64:
            return token, False
        return secrets.token_urlsafe(32), True

    def remember_login_token(self, response: Response, token: str) -> None:
        response.set_cookie(
            self.login_cookie,
            token,
            max_age=3600,
            path="/",
            secure=self._secure,
            httponly=True,
            samesite="strict",
        )

    # --- forms ----------------------------------------------------------------------

    @staticmethod
    async def form(request: Request) -> dict[str, str]:
        """A urlencoded form's fields (the first value of each)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != _FORM:
            raise Refused(415, "Forms are sent as application/x-www-form-urlencoded.")
        try:
            text = (await request.body()).decode("utf-8")
            fields = parse_qs(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "The form could not be read.") from None
        return {name: values[0] for name, values in fields.items()}

    @staticmethod
    def check_csrf(expected: str, form: dict[str, str]) -> None:
        if not csrf_matches(expected, form.get("csrf")):
            raise Refused(403, "This form has expired or did not come from the console.")


def source_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def status_of(error: ConnectPSPError) -> int:
    """The HTTP status the API answers ``error`` with."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500
