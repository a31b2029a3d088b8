"""``ConnectPSP`` and ``AsyncConnectPSP``: the same calls, blocking or awaitable, and the
resource namespaces they hold (``cash_outs``, ``cash_ins``, ``refunds``, ``pix_keys``,
``balance``, ``statement``, ``webhooks``, ``sandbox``).

Each call is a ``Plan`` (``_plans``), run by the I/O-free policy in ``_core``
(``BaseClient._exchange``: tokens, signatures, idempotency keys, retries); the clients
here only carry its steps out, with ``httpx.Client`` or ``httpx.AsyncClient``. The
namespaces are in ``_resources`` (the lists' iterators in ``_lists``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from connectpsp.client._core import BaseClient, GetToken, Sleep
from connectpsp.client._infractions import AsyncInfractions, Infractions
from connectpsp.client._lists import (
    AsyncCashIns,
    AsyncCashOuts,
    AsyncStatement,
    CashIns,
    CashOuts,
    Statement,
)
from connectpsp.client._plans import Plan
from connectpsp.client._refunds import AsyncRefunds, Refunds
from connectpsp.client._resources import (
    AsyncBalanceResource,
    AsyncPixKeys,
    AsyncSandbox,
    AsyncWebhooks,
    BalanceResource,
    PixKeys,
    Sandbox,
    Webhooks,
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
        self.cash_ins = CashIns(self)
        self.pix_keys = PixKeys(self)
        self.refunds = Refunds(self)
        self.infractions = Infractions(self)
        self.balance = BalanceResource(self)
        self.statement = Statement(self)
        self.webhooks = Webhooks(self)
        self.sandbox = Sandbox(self)

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
        self.cash_ins = AsyncCashIns(self)
        self.pix_keys = AsyncPixKeys(self)
        self.refunds = AsyncRefunds(self)
        self.infractions = AsyncInfractions(self)
        self.balance = AsyncBalanceResource(self)
        self.statement = AsyncStatement(self)
        self.webhooks = AsyncWebhooks(self)
        self.sandbox = AsyncSandbox(self)

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
