"""``ConnectPSP`` and ``AsyncConnectPSP``: the same calls, blocking or awaitable.

Each call is described once, as a ``_Plan`` (method, path, body, how to read the answer),
and run by ``_Base._exchange``, a generator free of I/O that both clients drive. It:
- fetches an access token lazily (no request before the first call), caches it, renews
  it a minute before it expires (by the ``clock`` it is given: ``time.monotonic``), and
  once more if the API still says ``TOKEN_EXPIRED``;
- signs cash-outs (``DigitalSignature``);
- gives every POST an ``X-Idempotency-Key`` (yours, or a new UUID) that every retry of
  that call reuses;
- retries what ``_retry.should_retry`` allows, waiting ``_retry.retry_delay``;
- reports a success whose body it cannot read as an ``APIError``, never a ``KeyError``.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from connectpsp.client._models import (
    AcceptedCashOut,
    Amount,
    Balance,
    CashOut,
    Payee,
    SecretRotation,
    WebhookDelivery,
    WebhookEndpoint,
    parse_time,
)
from connectpsp.client._retry import parse_retry_after, retry_delay, should_retry
from connectpsp.client.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConnectPSPError,
    error_for,
)

__all__ = ["AsyncConnectPSP", "ConnectPSP"]

T = TypeVar("T")
_RENEW_BEFORE = 60.0  # seconds of validity left when a token is renewed


@dataclass(frozen=True)
class _Plan(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]
    body: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    idempotency_key: str | None = None
    sign: bool = False
    auth: bool = True


def _nothing(_: Any) -> None:
    return None


def _segment(value: str) -> str:
    # An id is one path segment: a "/", "?" or "#" in it must not reach another route.
    return quote(value, safe="")


def _aware(moment: datetime, name: str) -> str:
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.isoformat()


def _create_cash_out_plan(
    amount: Amount | Decimal | str,
    external_reference: str,
    payee: Payee | Mapping[str, Any],
    description: str | None,
    webhook_url: str | None,
    idempotency_key: str | None,
) -> _Plan[AcceptedCashOut]:
    body: dict[str, Any] = {
        "amount": str(Amount.parse(amount)),  # a decimal string: exact, never a float
        "externalReference": external_reference,
        "payee": payee.to_json() if isinstance(payee, Payee) else dict(payee),
    }
    if description is not None:
        body["description"] = description
    if webhook_url is not None:
        body["webhookUrl"] = webhook_url
    return _Plan(
        "POST",
        "/cash-out",
        AcceptedCashOut.from_json,
        body=body,
        idempotency_key=idempotency_key,
        sign=True,
    )


def _get_cash_out_plan(internal_code: str) -> _Plan[CashOut]:
    return _Plan("GET", f"/cash-out/{_segment(internal_code)}", CashOut.from_json)


def _find_cash_out_plan(external_reference: str) -> _Plan[CashOut]:
    return _Plan(
        "GET", "/cash-out", CashOut.from_json, params={"externalReference": external_reference}
    )


def _balance_plan() -> _Plan[Balance]:
    return _Plan("GET", "/balance", Balance.from_json)


def _create_webhook_plan(
    url: str, events: list[str] | None, idempotency_key: str | None
) -> _Plan[WebhookEndpoint]:
    body: dict[str, Any] = {"url": url}
    if events is not None:
        body["events"] = list(events)
    return _Plan(
        "POST", "/webhooks", WebhookEndpoint.from_json, body=body, idempotency_key=idempotency_key
    )


def _list_webhooks_plan() -> _Plan[list[WebhookEndpoint]]:
    return _Plan("GET", "/webhooks", lambda d: [WebhookEndpoint.from_json(e) for e in d["data"]])


def _delete_webhook_plan(endpoint_id: str) -> _Plan[None]:
    return _Plan("DELETE", f"/webhooks/{_segment(endpoint_id)}", _nothing)


def _rotate_plan(endpoint_id: str, idempotency_key: str | None) -> _Plan[SecretRotation]:
    def read(d: Any) -> SecretRotation:
        return SecretRotation(d["id"], d["secret"], parse_time(d["previousSecretExpiresAt"]))

    return _Plan(
        "POST",
        f"/webhooks/{_segment(endpoint_id)}/rotate-secret",
        read,
        idempotency_key=idempotency_key,
    )


def _deliveries_plan(status: str | None, limit: int) -> _Plan[list[WebhookDelivery]]:
    params: dict[str, Any] = {"limit": limit}
    if status is not None:
        params["status"] = status
    return _Plan(
        "GET",
        "/webhooks/deliveries",
        lambda d: [WebhookDelivery.from_json(x) for x in d["data"]],
        params=params,
    )


def _retry_delivery_plan(delivery_id: str) -> _Plan[None]:
    return _Plan("POST", f"/webhooks/deliveries/{_segment(delivery_id)}/retry", _nothing)


def _replay_plan(endpoint_id: str, since: datetime, until: datetime) -> _Plan[int]:
    return _Plan(
        "POST",
        f"/webhooks/{_segment(endpoint_id)}/replay",
        lambda d: int(d["replayed"]),
        body={"since": _aware(since, "since"), "until": _aware(until, "until")},
    )


def _token(d: Any) -> tuple[str, float]:
    return str(d["accessToken"]), float(d["expiresIn"])


@dataclass(frozen=True)
class _GetToken:
    # renew the token if it is still this one (the API said it expired); None: any
    # fresh token will do. Concurrent calls refused with one token renew it only once.
    stale: str | None = None


@dataclass(frozen=True)
class _Send:
    method: str
    path: str
    content: bytes | None
    params: dict[str, Any] | None
    headers: dict[str, str]


@dataclass(frozen=True)
class _Sleep:
    seconds: float


_Step = _GetToken | _Send | _Sleep


class _Base:
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

    def _token_plan(self) -> _Plan[tuple[str, float]]:
        return _Plan(
            "POST",
            "/auth/token",
            _token,
            body={"clientId": self._client_id, "clientSecret": self._client_secret},
            auth=False,
        )

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

    def _headers(self, plan: _Plan[Any], token: str | None, key: str | None) -> dict[str, str]:
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
        return headers

    @staticmethod
    def _content(plan: _Plan[Any]) -> bytes | None:
        return json.dumps(plan.body).encode() if plan.body is not None else None

    @staticmethod
    def _answer(response: httpx.Response) -> tuple[Any, ConnectPSPError | None]:
        """The decoded body (numbers as Decimal), and the error it stands for, if any."""
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
    def _read(plan: _Plan[T], body: Any, response: httpx.Response) -> T:
        """The result of a success; an answer not in the API's shape (a proxy's page,
        say) is an ``APIError``, not a ``KeyError``. Not retried: the call succeeded."""
        try:
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

    def _exchange(self, plan: _Plan[T]) -> Generator[_Step, Any, T]:
        """One call's whole policy, free of I/O: it yields what to do (get a token, send,
        sleep) and is sent the outcome; the sync and async clients only carry it out."""
        key = plan.idempotency_key or (str(uuid.uuid4()) if plan.method == "POST" else None)
        renewed = False
        retries = 0
        while True:
            token = (yield _GetToken()) if plan.auth else None
            outcome = yield _Send(
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
                body, refusal = self._answer(outcome)
                if refusal is None:
                    return self._read(plan, body, outcome)
                error = refusal
            if error.code == "TOKEN_EXPIRED" and plan.auth and not renewed:
                renewed = True
                yield _GetToken(stale=token)
                continue
            if retries < self.max_retries and should_retry(error.http_status, error.code):
                retries += 1
                yield _Sleep(retry_delay(retries, self._retry_after(response)))
                continue
            raise error


class ConnectPSP(_Base):
    """The blocking client. Use it as a context manager, or call ``close()``."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        crypto_token: str,
        application_token: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            base_url,
            client_id,
            client_secret,
            crypto_token,
            application_token,
            max_retries=max_retries,
            clock=clock,
        )
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self._sleep = sleep
        self.cash_outs = CashOuts(self)
        self.balance = BalanceResource(self)
        self.webhooks = Webhooks(self)

    def __enter__(self) -> ConnectPSP:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _access_token(self, stale: str | None) -> str:
        cached = self._cached_token(stale)
        if cached is not None:
            return cached
        asked_at = self._clock()
        return self._keep_token(self._send(self._token_plan()), asked_at)

    def _send(self, plan: _Plan[T]) -> T:
        steps = self._exchange(plan)
        outcome: Any = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, _GetToken):
                outcome = self._access_token(step.stale)
            elif isinstance(step, _Sleep):
                self._sleep(step.seconds)
                outcome = None
            else:
                try:
                    outcome = self._http.request(
                        step.method,
                        step.path,
                        content=step.content,
                        params=step.params,
                        headers=step.headers,
                    )
                except httpx.RequestError as exc:  # timeouts, resets, undecodable bodies
                    outcome = exc


class AsyncConnectPSP(_Base):
    """The awaitable client: the same calls as ``ConnectPSP``, each ``await``-ed."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        crypto_token: str,
        application_token: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            base_url,
            client_id,
            client_secret,
            crypto_token,
            application_token,
            max_retries=max_retries,
            clock=clock,
        )
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)
        self._sleep = sleep
        self._token_lock = asyncio.Lock()
        self.cash_outs = AsyncCashOuts(self)
        self.balance = AsyncBalanceResource(self)
        self.webhooks = AsyncWebhooks(self)

    async def __aenter__(self) -> AsyncConnectPSP:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _access_token(self, stale: str | None) -> str:
        async with self._token_lock:  # one token request, however many calls await it
            cached = self._cached_token(stale)
            if cached is not None:
                return cached
            asked_at = self._clock()
            return self._keep_token(await self._send(self._token_plan()), asked_at)

    async def _send(self, plan: _Plan[T]) -> T:
        steps = self._exchange(plan)
        outcome: Any = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, _GetToken):
                outcome = await self._access_token(step.stale)
            elif isinstance(step, _Sleep):
                await self._sleep(step.seconds)
                outcome = None
            else:
                try:
                    outcome = await self._http.request(
                        step.method,
                        step.path,
                        content=step.content,
                        params=step.params,
                        headers=step.headers,
                    )
                except httpx.RequestError as exc:  # timeouts, resets, undecodable bodies
                    outcome = exc


class CashOuts:
    def __init__(self, client: ConnectPSP) -> None:
        self._c = client

    def create(
        self,
        amount: Amount | Decimal | str,
        external_reference: str,
        payee: Payee | Mapping[str, Any],
        *,
        description: str | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> AcceptedCashOut:
        return self._c._send(
            _create_cash_out_plan(
                amount, external_reference, payee, description, webhook_url, idempotency_key
            )
        )

    def get(self, internal_code: str) -> CashOut:
        return self._c._send(_get_cash_out_plan(internal_code))

    def find(self, *, external_reference: str) -> CashOut:
        return self._c._send(_find_cash_out_plan(external_reference))


class AsyncCashOuts:
    def __init__(self, client: AsyncConnectPSP) -> None:
        self._c = client

    async def create(
        self,
        amount: Amount | Decimal | str,
        external_reference: str,
        payee: Payee | Mapping[str, Any],
        *,
        description: str | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> AcceptedCashOut:
        return await self._c._send(
            _create_cash_out_plan(
                amount, external_reference, payee, description, webhook_url, idempotency_key
            )
        )

    async def get(self, internal_code: str) -> CashOut:
        return await self._c._send(_get_cash_out_plan(internal_code))

    async def find(self, *, external_reference: str) -> CashOut:
        return await self._c._send(_find_cash_out_plan(external_reference))


class BalanceResource:
    def __init__(self, client: ConnectPSP) -> None:
        self._c = client

    def get(self) -> Balance:
        return self._c._send(_balance_plan())


class AsyncBalanceResource:
    def __init__(self, client: AsyncConnectPSP) -> None:
        self._c = client

    async def get(self) -> Balance:
        return await self._c._send(_balance_plan())


class Webhooks:
    def __init__(self, client: ConnectPSP) -> None:
        self._c = client

    def create(
        self, url: str, events: list[str] | None = None, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        return self._c._send(_create_webhook_plan(url, events, idempotency_key))

    def list(self) -> list[WebhookEndpoint]:
        return self._c._send(_list_webhooks_plan())

    def delete(self, endpoint_id: str) -> None:
        self._c._send(_delete_webhook_plan(endpoint_id))

    def rotate_secret(
        self, endpoint_id: str, *, idempotency_key: str | None = None
    ) -> SecretRotation:
        return self._c._send(_rotate_plan(endpoint_id, idempotency_key))

    def deliveries(
        self, status: str | None = None, limit: int = 100
    ) -> builtins.list[WebhookDelivery]:
        return self._c._send(_deliveries_plan(status, limit))

    def retry(self, delivery_id: str) -> None:
        self._c._send(_retry_delivery_plan(delivery_id))

    def replay(self, endpoint_id: str, since: datetime, until: datetime) -> int:
        return self._c._send(_replay_plan(endpoint_id, since, until))


class AsyncWebhooks:
    def __init__(self, client: AsyncConnectPSP) -> None:
        self._c = client

    async def create(
        self, url: str, events: list[str] | None = None, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        return await self._c._send(_create_webhook_plan(url, events, idempotency_key))

    async def list(self) -> list[WebhookEndpoint]:
        return await self._c._send(_list_webhooks_plan())

    async def delete(self, endpoint_id: str) -> None:
        await self._c._send(_delete_webhook_plan(endpoint_id))

    async def rotate_secret(
        self, endpoint_id: str, *, idempotency_key: str | None = None
    ) -> SecretRotation:
        return await self._c._send(_rotate_plan(endpoint_id, idempotency_key))

    async def deliveries(
        self, status: str | None = None, limit: int = 100
    ) -> builtins.list[WebhookDelivery]:
        return await self._c._send(_deliveries_plan(status, limit))

    async def retry(self, delivery_id: str) -> None:
        await self._c._send(_retry_delivery_plan(delivery_id))

    async def replay(self, endpoint_id: str, since: datetime, until: datetime) -> int:
        return await self._c._send(_replay_plan(endpoint_id, since, until))
