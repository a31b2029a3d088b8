"""The SDK's errors: one tree, drawn here (a test checks the drawing against the
classes). Every one carries the API's stable ``code``, its ``message``, the HTTP status
(``http_status``), the ``details`` and the ``request_id`` to quote to support. All are
importable from ``connectpsp`` too.

ConnectPSPError
├── APIConnectionError           no answer: refused, reset, cut off
│   └── APITimeoutError          no answer in time
├── AuthenticationError          401 (UNAUTHORIZED, TOKEN_EXPIRED, INVALID_*)
├── ValidationError              400 (VALIDATION_ERROR, INVALID_JSON, ...), 413
├── NotFoundError                404
├── ConflictError                409 (any code), 422 IDEMPOTENCY_KEY_MISMATCH
├── InsufficientBalanceError     422 INSUFFICIENT_BALANCE
├── LimitExceededError           422 LIMIT_EXCEEDED
├── ChargeNotPayableError        422 CHARGE_NOT_PAYABLE
├── AmountMismatchError          422 AMOUNT_MISMATCH
├── PaymentRejectedError         422 PAYMENT_REJECTED
├── PaymentNotFoundError         422 PAYMENT_NOT_FOUND
├── RefundExceedsPaymentError    422 REFUND_EXCEEDS_PAYMENT
├── RefundWindowClosedError      422 REFUND_WINDOW_CLOSED
├── RateLimitError               429
├── APIError                     5xx and anything else
└── WebhookVerificationError     a webhook failed verification

Retried by the SDK before you see them: APIConnectionError, 5xx, 429 and 409
IDEMPOTENCY_KEY_IN_USE (see ``connectpsp.client._retry``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AmountMismatchError",
    "AuthenticationError",
    "ChargeNotPayableError",
    "ConflictError",
    "ConnectPSPError",
    "InsufficientBalanceError",
    "LimitExceededError",
    "NotFoundError",
    "PaymentNotFoundError",
    "PaymentRejectedError",
    "RateLimitError",
    "RefundExceedsPaymentError",
    "RefundWindowClosedError",
    "ValidationError",
    "WebhookVerificationError",
    "error_for",
]


class ConnectPSPError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        http_status: int | None = None,
        details: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status
        self.details = details
        self.request_id = request_id


class APIConnectionError(ConnectPSPError):
    pass


class APITimeoutError(APIConnectionError):
    pass


class AuthenticationError(ConnectPSPError):
    pass


class ValidationError(ConnectPSPError):
    pass


class NotFoundError(ConnectPSPError):
    pass


class ConflictError(ConnectPSPError):
    pass


class InsufficientBalanceError(ConnectPSPError):
    pass


class LimitExceededError(ConnectPSPError):
    pass


class ChargeNotPayableError(ConnectPSPError):
    """The charge takes no more payments: ``details["status"]`` says why."""


class AmountMismatchError(ConnectPSPError):
    """Another amount than the charge's: ``details`` is ``{"expected", "paid"}`` in centavos."""


class PaymentRejectedError(ConnectPSPError):
    """The receiving side rejected the Pix: ``details["reason"]`` is SPI's code."""


class PaymentNotFoundError(ConnectPSPError):
    """A refund of a charge never paid, or of an ``endToEndId`` that is not one of its
    payments (``details["endToEndId"]``)."""


class RefundExceedsPaymentError(ConnectPSPError):
    """The payment's refunds would add up to more than it: ``details["refundable"]`` is
    what is left, in reais as text."""


class RefundWindowClosedError(ConnectPSPError):
    """More than 90 days since the payment: ``details`` is ``{"paidAt", "refundableUntil"}``."""


class RateLimitError(ConnectPSPError):
    pass


class APIError(ConnectPSPError):
    pass


class WebhookVerificationError(ConnectPSPError):
    def __init__(self, message: str) -> None:
        super().__init__("WEBHOOK_VERIFICATION_FAILED", message)


_BY_CODE: dict[str, type[ConnectPSPError]] = {
    "INSUFFICIENT_BALANCE": InsufficientBalanceError,
    "LIMIT_EXCEEDED": LimitExceededError,
    "CHARGE_NOT_PAYABLE": ChargeNotPayableError,
    "AMOUNT_MISMATCH": AmountMismatchError,
    "PAYMENT_REJECTED": PaymentRejectedError,
    "PAYMENT_NOT_FOUND": PaymentNotFoundError,
    "REFUND_EXCEEDS_PAYMENT": RefundExceedsPaymentError,
    "REFUND_WINDOW_CLOSED": RefundWindowClosedError,
    "IDEMPOTENCY_KEY_MISMATCH": ConflictError,
}
_BY_STATUS: dict[int, type[ConnectPSPError]] = {
    400: ValidationError,
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: ValidationError,
    429: RateLimitError,
}


def error_for(status: int, body: Any, request_id: str | None) -> ConnectPSPError:
    """The error an API answer stands for."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"code": "HTTP_" + str(status), "message": f"HTTP {status}", "details": None}
    code = str(error.get("code"))
    kind = _BY_CODE.get(code) or _BY_STATUS.get(status, APIError)
    return kind(code, str(error.get("message")), status, error.get("details"), request_id)
