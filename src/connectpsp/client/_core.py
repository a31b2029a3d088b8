"""The request/response policy both clients share, free of I/O.

``BaseClient._exchange`` runs one ``Plan`` as a generator that yields what to do (get a
token, send, sleep) and is sent the outcome; ``ConnectPSP`` and ``AsyncConnectPSP`` only
carry the steps out, blocking or awaiting. The policy:
- fetch an access token lazily (no request before the first call), cache it, renew it a
  minute before it expires (by the ``clock`` it is given: ``time.monotonic``), and once
  more if the API still says ``TOKEN_EXPIRED``;
- sign what the API wants signed (``DigitalSignature``): cash-outs, charges, Pix keys;
- give every POST an ``X-Idempotency-Key`` (yours, or a new UUID) that every retry of
  that call reuses;
- retry what ``_retry.should_retry`` allows, waiting ``_retry.retry_delay``;
- report a success whose body it cannot read as an ``APIError``, never a ``KeyError``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from connectpsp.client._plans import Plan, token_plan
from connectpsp.client._retry import parse_retry_after, retry_delay, should_retry
from connectpsp.client.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConnectPSPError,
    error_for,
)

__all__ = ["BaseClient", "GetToken", "Send", "Sleep", "Step"]

T = TypeVar("T")
_RENEW_BEFORE = 60.0  # seconds of validity left when a token is renewed


@dataclass(frozen=True)
class GetToken:
    # renew the token if it is still this one (the API said it expired); None: any
    # fresh token will do. Concurrent calls refused with one token renew it only once.
    stale: str | None = None


@dataclass(frozen=True)
class Send:
    method: str
    path: str
    content: bytes | None
    params: dict[str, Any] | None
    headers: dict[str, str]


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = GetToken | Send | Sleep


class BaseClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        crypto_token: str,
        application_token: str,
        *,
        max_retries: int,
        clock: Callable[[], float],
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self._clock = clock
        self._client_id = client_id
        self._client_secret = client_secret
        self._crypto_token = crypto_token
        self._application_token = application_token
        self._token: str | None = None
        self._token_expires = 0.0

    def _token_plan(self) -> Plan[tuple[str, float]]:
        return token_plan(self._client_id, self._client_secret)

    def _keep_token(self, answer: tuple[str, float], asked_at: float) -> str:
        """Cache a token; ``asked_at`` is when it was requested (its lifetime may have
        started any time after)."""
        self._token, lifetime = answer
        self._token_expires = asked_at + lifetime - min(_RENEW_BEFORE, lifetime / 10)
        return self._token

    def _cached_token(self, stale: str | None) -> str | None:
        """The cached token if it is fresh and not the ``stale`` one, else None."""
        if self._token is None or self._token == stale:
            return None
        return self._token if self._clock() < self._token_expires else None

    def _headers(self, plan: Plan[Any], token: str | None, key: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "user-agent": "connectpsp-python"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
            headers["applicationtoken"] = self._application_token
            if plan.sign:
                headers["digitalsignature"] = hmac.new(
                    self._crypto_token.encode(), token.encode(), hashlib.sha256
                ).hexdigest()
        if key is not None:
            headers["x-idempotency-key"] = key
        if plan.media_type is not None:
            headers["accept"] = plan.media_type
        return headers

    @staticmethod
    def _content(plan: Plan[Any]) -> bytes | None:
        return json.dumps(plan.body).encode() if plan.body is not None else None

    @staticmethod
    def _answer(response: httpx.Response, raw: bool) -> tuple[Any, ConnectPSPError | None]:
        """The decoded body (numbers as Decimal; a ``raw`` success: its bytes), and the
        error it stands for, if any."""
        if raw and response.is_success:
            return response.content, None
        try:
            body = json.loads(response.content, parse_float=Decimal) if response.content else None
        except ValueError:
            body = None
        if response.is_success:
            return body, None
        return body, error_for(response.status_code, body, response.headers.get("x-request-id"))

    @staticmethod
    def _retry_after(response: httpx.Response | None) -> float | None:
        if response is None:
            return None
        return parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))

    @staticmethod
    def _read(plan: Plan[T], body: Any, response: httpx.Response) -> T:
        """The result of a success; an answer not in the API's shape (a proxy's page,
        say) is an ``APIError``, not a ``KeyError``. Not retried: the call succeeded."""
        try:
            if plan.media_type is not None:
                media_type = response.headers.get("content-type", "").split(";")[0].strip()
                if media_type != plan.media_type:
                    raise ValueError(f"expected {plan.media_type}, got {media_type or 'nothing'}")
            return plan.read(body)
        except (LookupError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise APIError(
                "INVALID_RESPONSE",
                f"{plan.method} {plan.path} answered {response.status_code} with an "
                f"unreadable body ({type(exc).__name__}: {exc})",
                response.status_code,
                None,
                response.headers.get("x-request-id"),
            ) from None

    def _exchange(self, plan: Plan[T]) -> Generator[Step, Any, T]:
        """One call's whole policy, free of I/O: it yields what to do (get a token, send,
        sleep) and is sent the outcome; the sync and async clients only carry it out."""
        key = plan.idempotency_key or (str(uuid.uuid4()) if plan.method == "POST" else None)
        renewed = False
        retries = 0
        while True:
            token = (yield GetToken()) if plan.auth else None
            outcome = yield Send(
                plan.method,
                plan.path,
                self._content(plan),
                plan.params,
                self._headers(plan, token, key),
            )
            response = outcome if isinstance(outcome, httpx.Response) else None
            if isinstance(outcome, httpx.TimeoutException):
                error: ConnectPSPError = APITimeoutError("TIMEOUT", f"no answer in time: {outcome}")
            elif isinstance(outcome, Exception):
                error = APIConnectionError(
                    "CONNECTION_ERROR", f"{type(outcome).__name__}: {outcome}"
                )
            else:
                body, refusal = self._answer(outcome, plan.media_type is not None)
                if refusal is None:
                    return self._read(plan, body, outcome)
                error = refusal
            if error.code == "TOKEN_EXPIRED" and plan.auth and not renewed:
                renewed = True
                yield GetToken(stale=token)
                continue
            if retries < self.max_retries and should_retry(error.http_status, error.code):
                retries += 1
                yield Sleep(retry_delay(retries, self._retry_after(response)))
                continue
            raise error
