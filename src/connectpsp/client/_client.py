"""``ConnectPSP`` and ``AsyncConnectPSP``: the same calls, blocking or awaitable, and the
resource namespaces they hold (``cash_outs``, ``balance``, ``webhooks``).

Each call is a ``Plan`` (``_plans``), run by the I/O-free policy in ``_core``
(``BaseClient._exchange``: tokens, signatures, idempotency keys, retries); the clients
here only carry its steps out, with ``httpx.Client`` or ``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from connectpsp.client._core import BaseClient, GetToken, Sleep
from connectpsp.client._models import (
    AcceptedCashOut,
    Amount,
    Balance,
    CashOut,
    Payee,
    SecretRotation,
    WebhookDelivery,
    WebhookEndpoint,
)
from connectpsp.client._plans import (
    Plan,
    balance_plan,
    create_cash_out_plan,
    create_webhook_plan,
    delete_webhook_plan,
    deliveries_plan,
    find_cash_out_plan,
    get_cash_out_plan,
    list_webhooks_plan,
    replay_plan,
    retry_delivery_plan,
    rotate_plan,
)

__all__ = ["AsyncConnectPSP", "ConnectPSP"]

T = TypeVar("T")


class ConnectPSP(BaseClient):
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

    def _send(self, plan: Plan[T]) -> T:
        steps = self._exchange(plan)
        outcome: Any = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, GetToken):
                outcome = self._access_token(step.stale)
            elif isinstance(step, Sleep):
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


class AsyncConnectPSP(BaseClient):
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

    async def _send(self, plan: Plan[T]) -> T:
        steps = self._exchange(plan)
        outcome: Any = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, GetToken):
                outcome = await self._access_token(step.stale)
            elif isinstance(step, Sleep):
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


# the resource namespaces: each call is its plan, sent by the client that holds it ------


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
            create_cash_out_plan(
                amount, external_reference, payee, description, webhook_url, idempotency_key
            )
        )

    def get(self, internal_code: str) -> CashOut:
        return self._c._send(get_cash_out_plan(internal_code))

    def find(self, *, external_reference: str) -> CashOut:
        return self._c._send(find_cash_out_plan(external_reference))


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
            create_cash_out_plan(
                amount, external_reference, payee, description, webhook_url, idempotency_key
            )
        )

    async def get(self, internal_code: str) -> CashOut:
        return await self._c._send(get_cash_out_plan(internal_code))

    async def find(self, *, external_reference: str) -> CashOut:
        return await self._c._send(find_cash_out_plan(external_reference))


class BalanceResource:
    def __init__(self, client: ConnectPSP) -> None:
        self._c = client

    def get(self) -> Balance:
        return self._c._send(balance_plan())


class AsyncBalanceResource:
    def __init__(self, client: AsyncConnectPSP) -> None:
        self._c = client

    async def get(self) -> Balance:
        return await self._c._send(balance_plan())


class Webhooks:
    def __init__(self, client: ConnectPSP) -> None:
        self._c = client

    def create(
        self, url: str, events: list[str] | None = None, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        return self._c._send(create_webhook_plan(url, events, idempotency_key))

    def list(self) -> list[WebhookEndpoint]:
        return self._c._send(list_webhooks_plan())

    def delete(self, endpoint_id: str) -> None:
        self._c._send(delete_webhook_plan(endpoint_id))

    def rotate_secret(
        self, endpoint_id: str, *, idempotency_key: str | None = None
    ) -> SecretRotation:
        return self._c._send(rotate_plan(endpoint_id, idempotency_key))

    def deliveries(
        self, status: str | None = None, limit: int = 100
    ) -> builtins.list[WebhookDelivery]:
        return self._c._send(deliveries_plan(status, limit))

    def retry(self, delivery_id: str) -> None:
        self._c._send(retry_delivery_plan(delivery_id))

    def replay(self, endpoint_id: str, since: datetime, until: datetime) -> int:
        return self._c._send(replay_plan(endpoint_id, since, until))


class AsyncWebhooks:
    def __init__(self, client: AsyncConnectPSP) -> None:
        self._c = client

    async def create(
        self, url: str, events: list[str] | None = None, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        return await self._c._send(create_webhook_plan(url, events, idempotency_key))

    async def list(self) -> list[WebhookEndpoint]:
        return await self._c._send(list_webhooks_plan())

    async def delete(self, endpoint_id: str) -> None:
        await self._c._send(delete_webhook_plan(endpoint_id))

    async def rotate_secret(
        self, endpoint_id: str, *, idempotency_key: str | None = None
    ) -> SecretRotation:
        return await self._c._send(rotate_plan(endpoint_id, idempotency_key))

    async def deliveries(
        self, status: str | None = None, limit: int = 100
    ) -> builtins.list[WebhookDelivery]:
        return await self._c._send(deliveries_plan(status, limit))

    async def retry(self, delivery_id: str) -> None:
        await self._c._send(retry_delivery_plan(delivery_id))

    async def replay(self, endpoint_id: str, since: datetime, until: datetime) -> int:
        return await self._c._send(replay_plan(endpoint_id, since, until))
