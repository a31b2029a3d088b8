"""ConnectPSP: a self-hostable Pix payment service provider, and its Python SDK.

    from connectpsp import ConnectPSP, Payee, PixKey

    with ConnectPSP(base_url, client_id, client_secret, crypto_token, application_token) as psp:
        accepted = psp.cash_outs.create("50.00", "withdrawal-42",
                                        Payee("Maria Silva", "12345678909",
                                              PixKey("CPF", "12345678909")))

Errors form one tree under ``ConnectPSPError``, drawn in the docstring of
``connectpsp.client.errors`` (``help(connectpsp.client.errors)``); every class is also
importable from here. Webhooks are verified with ``connectpsp.webhooks.verify``; a BR
Code ("Pix copia e cola") is read locally, with no server, by ``connectpsp.brcode.decode``.
The whole SDK is described in docs/sdk.md.

The base install is the SDK (httpx only); ``connectpsp[server]`` adds the server.
"""

from connectpsp import brcode, webhooks
from connectpsp.client._batch import CashOutItem
from connectpsp.client._charges import (
    CashInPayer,
    CashInPayment,
    Charge,
    Refund,
    RefundFailure,
    RegisteredPixKey,
)
from connectpsp.client._client import AsyncConnectPSP, ConnectPSP
from connectpsp.client._infractions import Infraction
from connectpsp.client._lists import Movement
from connectpsp.client._models import (
    AcceptedCashOut,
    Amount,
    Balance,
    BankAccount,
    BrCodeDestination,
    CashOut,
    CashOutReturn,
    DeliveryAttempt,
    Failure,
    Payee,
    PixKey,
    SecretRotation,
    WebhookDelivery,
    WebhookEndpoint,
)
from connectpsp.client.errors import (
    AmountMismatchError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ChargeNotPayableError,
    ConflictError,
    ConnectPSPError,
    InsufficientBalanceError,
    LimitExceededError,
    NotFoundError,
    PaymentNotFoundError,
    PaymentRejectedError,
    RateLimitError,
    RefundExceedsPaymentError,
    RefundWindowClosedError,
    ValidationError,
    WebhookVerificationError,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AcceptedCashOut",
    "Amount",
    "AmountMismatchError",
    "AsyncConnectPSP",
    "AuthenticationError",
    "Balance",
    "BankAccount",
    "BrCodeDestination",
    "CashInPayer",
    "CashInPayment",
    "CashOut",
    "CashOutItem",
    "CashOutReturn",
    "Charge",
    "ChargeNotPayableError",
    "ConflictError",
    "ConnectPSP",
    "ConnectPSPError",
    "DeliveryAttempt",
    "Failure",
    "Infraction",
    "InsufficientBalanceError",
    "LimitExceededError",
    "Movement",
    "NotFoundError",
    "Payee",
    "PaymentNotFoundError",
    "PaymentRejectedError",
    "PixKey",
    "RateLimitError",
    "Refund",
    "RefundExceedsPaymentError",
    "RefundFailure",
    "RefundWindowClosedError",
    "RegisteredPixKey",
    "SecretRotation",
    "ValidationError",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookVerificationError",
    "__version__",
    "brcode",
    "webhooks",
]
