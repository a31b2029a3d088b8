"""What every router shares: the services, client authentication, JSON responses and
the OpenAPI description of JSON bodies we parse ourselves (to keep amounts exact)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from connectpsp.api import jsonio
from connectpsp.api.errors import render_error
from connectpsp.api.schemas import ErrorBody
from connectpsp.api.services import Services
from connectpsp.domain.errors import (
    ConnectPSPError,
    FieldError,
    IdempotencyKeyRequired,
    InvalidApplicationToken,
    Unauthorized,
    ValidationFailed,
)
from connectpsp.service.acceptance import Accepted, Decided
from connectpsp.service.auth import Caller

R = TypeVar("R")

__all__ = [
    "AUTH_HEADERS",
    "BODY_MODELS",
    "IDEMPOTENT_REPLAYED",
    "ID_PATTERN",
    "INTERNAL_CODE_PATTERN",
    "REFERENCE_PATTERN",
    "RETRY_AFTER",
    "authenticated",
    "body",
    "checked_key",
    "errors",
    "header_docs",
    "idempotency_key",
    "json_body",
    "json_response",
    "respond",
    "services_of",
    "single_header",
]

# What path and query parameters may hold; anything else is a 400 naming the parameter
# (a NUL or a control character never reaches a query).
ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"  # an unknown id, if well formed, is a 404
INTERNAL_CODE_PATTERN = r"^[A-Z]{10}$"
REFERENCE_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"

# Request models documented under components/schemas (see ``create_app``).
BODY_MODELS: list[type[BaseModel]] = []


def body(model: type[BaseModel], *headers: tuple[str, str]) -> dict[str, Any]:
    """``openapi_extra`` that documents ``model`` as the JSON request body, and the
    required ``(name, description)`` headers the route reads itself."""
    if model not in BODY_MODELS:
        BODY_MODELS.append(model)
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    extra: dict[str, Any] = {
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}
    }
    if headers:
        extra["parameters"] = header_docs(headers)
    return extra


# Sent with every 429 (RATE_LIMITED) and 503 (the database is down); see api/errors.py.
RETRY_AFTER: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}


# On an answer replayed for a repeated X-Idempotency-Key (see ``respond``).
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


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Documented error answers. Every route may also answer 500 (INTERNAL_ERROR) and 503
    (the database is down); ``create_app`` adds 413 to every route that reads a body.
    A 429 or 503 carries ``Retry-After``."""
    return {
        status: {"model": ErrorBody, **({"headers": RETRY_AFTER} if status in (429, 503) else {})}
        for status in (*statuses, 500, 503)
    }


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        jsonio.encode(data), status_code=status, media_type="application/json", headers=headers
    )


def respond(decided: Decided[R], render: Callable[[R], tuple[int, Any]]) -> Response:
    """The HTTP answer to a decided request: its result rendered (``render`` gives the
    status and JSON), or its stored refusal; ``Idempotent-Replayed: true`` on a replay.
    Rendered the same way every time, so a replay gets the first answer's bytes."""
    outcome = decided.outcome
    if isinstance(outcome, Accepted):
        status, data = render(outcome.result)
        body = jsonio.encode(data)
    else:
        status, body = render_error(outcome.error)
    headers = {"Idempotent-Replayed": "true"} if decided.replayed else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def services_of(request: Request) -> Services:
    """The services the app was created with (``create_app``)."""
    services: Services = request.app.state.services
    return services


# Read by ``authenticated`` itself, to answer UNAUTHORIZED or INVALID_APPLICATION_TOKEN
# (never VALIDATION_ERROR) and to keep FastAPI's per-parameter work off every request;
# ``create_app`` documents them on every route that depends on it.
AUTH_HEADERS = (
    ("Authorization", "Bearer <accessToken>"),
    ("ApplicationToken", "Your ApplicationToken"),
)


def header_docs(headers: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """OpenAPI parameters for required headers a route reads itself."""
    return [
        {
            "name": name,
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": about,
        }
        for name, about in headers
    ]


def single_header(
    request: Request, name: str, refusal: Callable[[str], ConnectPSPError]
) -> str | None:
    """Header ``name``'s value, or None; ``refusal`` (given a message) if it is sent more
    than once. Two credentials, keys or media types are ambiguous, as a field given twice
    in a body is: one hop may read the first and another the last, so neither is chosen."""
    values = request.headers.getlist(name)
    if len(values) > 1:
        raise refusal(f"{name} is sent more than once.")
    return values[0] if values else None


def _key_repeated(_: str) -> ValidationFailed:
    return ValidationFailed([FieldError("X-Idempotency-Key", "is sent more than once")])


async def authenticated(request: Request) -> Caller:
    auth = services_of(request).auth
    authorization = single_header(request, "Authorization", Unauthorized)
    application_token = single_header(request, "ApplicationToken", InvalidApplicationToken)
    # A client seen in the last seconds is checked from memory; otherwise a thread reads
    # it, so the event loop never waits on the database.
    caller = auth.authenticate_from_memory(authorization, application_token)
    if caller is None:
        caller = await run_in_threadpool(auth.authenticate, authorization, application_token)
    return caller


async def json_body(request: Request) -> Any:
    """The request's JSON body, read and checked the one way every route does (see
    ``jsonio``): 415 unless it is sent as ``application/json``."""
    jsonio.check_content_type(single_header(request, "Content-Type", jsonio.UnsupportedMediaType))
    return jsonio.decode(await request.body())


_KEY_CHARS = frozenset(map(chr, range(0x21, 0x7F)))  # printable ASCII, no space


def idempotency_key(request: Request, *, required: bool) -> str | None:
    """``X-Idempotency-Key``: 1-255 printable ASCII characters (a UUID is a good choice).
    Missing: ``IdempotencyKeyRequired`` if ``required``, else None."""
    return checked_key(
        single_header(request, "X-Idempotency-Key", _key_repeated), required=required
    )


def checked_key(key: str | None, *, required: bool) -> str | None:
    """An ``X-Idempotency-Key`` value as ``idempotency_key`` checks it."""
    if not key:
        if required:
            raise IdempotencyKeyRequired()
        return None
    if len(key) > 255 or not _KEY_CHARS.issuperset(key):
        raise ValidationFailed(
            [FieldError("X-Idempotency-Key", "must be 1 to 255 printable ASCII characters")]
        )
    return key
