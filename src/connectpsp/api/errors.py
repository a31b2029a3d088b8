"""The one place that gives error codes their HTTP statuses, and the error body:
``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from connectpsp.api import jsonio
from connectpsp.domain import errors as e
from connectpsp.domain.cashin import AmountMismatch, ChargeNotPayable
from connectpsp.domain.errors import ConnectPSPError, FieldError
from connectpsp.domain.refunds import RefundExceedsPayment, RefundWindowClosed, UnknownPayment
from connectpsp.logs import get_logger
from connectpsp.service.brcode_payments import LocationUnreadable
from connectpsp.service.sandbox import PaymentRejected

__all__ = ["HTTP_CODES", "STATUS", "error_body", "install_handlers", "render_error"]

log = get_logger("connectpsp.api")

STATUS: dict[type[ConnectPSPError], int] = {
    e.InvalidCredentials: 401,
    e.Unauthorized: 401,
    e.TokenExpired: 401,
    e.InvalidApplicationToken: 401,
    e.InvalidSignature: 401,
    e.RateLimited: 429,
    e.ValidationFailed: 400,
    e.PlaceholderUrl: 400,
    jsonio.InvalidJson: 400,
    e.IdempotencyKeyRequired: 400,
    jsonio.PayloadTooLarge: 413,
    jsonio.UnsupportedMediaType: 415,
    e.IdempotencyKeyMismatch: 422,
    e.IdempotencyKeyInUse: 409,
    e.DuplicateExternalReference: 409,
    e.InsufficientBalance: 422,
    e.LimitExceeded: 422,
    e.FraudSuspected: 422,
    e.PixKeyAlreadyRegistered: 409,
    e.InvalidBrCode: 400,
    e.EndpointDisabled: 409,
    e.IllegalTransition: 409,
    ChargeNotPayable: 422,
    AmountMismatch: 422,
    PaymentRejected: 422,
    LocationUnreadable: 422,
    RefundExceedsPayment: 422,
    RefundWindowClosed: 422,
    UnknownPayment: 422,
    e.NotFound: 404,
    e.StorageUnavailable: 503,
    e.SchemaNotCurrent: 503,
}


def status_for(error: ConnectPSPError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def error_body(code: str, message: str, details: Any = None) -> bytes:
    return jsonio.encode({"error": {"code": code, "message": message, "details": details}})


def render_error(error: ConnectPSPError) -> tuple[int, bytes]:
    status = status_for(error)
    if status == 500:
        # An error with no status is a bug (an illegal transition, a ledger rule): the
        # client learns only that it failed; the log has the rest.
        log.error("unmapped_domain_error", code=error.code, error_type=type(error).__name__)
        return 500, error_body(_INTERNAL, "An unexpected error occurred.")
    return status, error_body(error.code, error.message, error.details)


_INTERNAL = "INTERNAL_ERROR"
# Starlette's own errors (unknown route, wrong method...) in our shape.
HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}
HTTP_FALLBACK = "HTTP_ERROR"


def _response(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def _on_domain_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, ConnectPSPError)
    status, body = render_error(error)
    headers = None
    if isinstance(error, e.RateLimited):
        headers = {"Retry-After": str(error.retry_after_seconds)}
    if isinstance(error, e.StorageUnavailable):
        headers = {"Retry-After": "1"}
    return _response(status, body, headers)


async def _on_request_validation(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    fields = [
        FieldError(".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]), err["msg"])
        for err in error.errors()
    ]
    status, body = render_error(e.ValidationFailed(fields))
    return _response(status, body)


async def _on_http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = HTTP_CODES.get(error.status_code, HTTP_FALLBACK)
    message = "Not found." if error.status_code == 404 else str(error.detail)
    return _response(error.status_code, error_body(code, message), dict(error.headers or {}))


def install_handlers(app: Any) -> None:
    app.add_exception_handler(ConnectPSPError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(HTTPException, _on_http_error)
