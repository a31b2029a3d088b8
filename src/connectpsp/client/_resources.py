"""The resource namespaces a client holds (``psp.cash_outs``, ``psp.cash_ins``, ...): each
call is its plan (``_plans``), sent by the client that holds it, blocking or awaited."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from connectpsp.client._batch import CashOutItem, create_many_plan
from connectpsp.client._charges import Charge, Refund, RegisteredPixKey
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
    balance_plan,
    cancel_charge_plan,
    create_cash_out_plan,
    create_charge_plan,
    create_webhook_plan,
    delete_pix_key_plan,
    delete_webhook_plan,
    deliveries_plan,
    find_cash_out_plan,
    find_charge_plan,
    get_cash_out_plan,
    get_charge_plan,
    list_pix_keys_plan,
    list_webhooks_plan,
    qr_code_plan,
    refund_plan,
    register_pix_key_plan,
    replay_plan,
    retry_delivery_plan,
    rotate_plan,
    sandbox_pay_plan,
)
from connectpsp.client.errors import ConnectPSPError

if TYPE_CHECKING:
    from connectpsp.client._client import AsyncConnectPSP, ConnectPSP

__all__ = [
    "AsyncBalanceResource",
    "AsyncCashIns",
    "AsyncCashOuts",
    "AsyncPixKeys",
    "AsyncSandbox",
    "AsyncWebhooks",
    "BalanceResource",
    "CashIns",
    "CashOuts",
    "PixKeys",
    "Sandbox",
    "Webhooks",
]

ChargeType = Literal["DYNAMIC", "STATIC"]
ImageFormat = Literal["png", "svg"]
RefundReason = Literal["ORIGINAL", "WITHDRAWAL"]


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

    def create_many(
        self, items: Sequence[CashOutItem], *, idempotency_key: str | None = None
    ) -> list[AcceptedCashOut | ConnectPSPError]:
        return self._c._send(create_many_plan(items, idempotency_key))

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

    async def create_many(
        self, items: Sequence[CashOutItem], *, idempotency_key: str | None = None
    ) -> list[AcceptedCashOut | ConnectPSPError]:
        return await self._c._send(create_many_plan(items, idempotency_key))

    async def get(self, internal_code: str) -> CashOut:
        return await self._c._send(get_cash_out_plan(internal_code))

    async def find(self, *, external_reference: str) -> CashOut:
        return await self._c._send(find_cash_out_plan(external_reference))


class CashIns:
    def __init__(self, client: ConnectPSP) -> None:
        self._c = client

    def create(
        self,
        amount: Amount | Decimal | str | None,
        external_reference: str,
        *,
        type: ChargeType = "DYNAMIC",
        description: str | None = None,
        expires_in: int | None = None,
        payer: Mapping[str, str] | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Charge:
        return self._c._send(
            create_charge_plan(
                amount,
                external_reference,
                type,
                description,
                expires_in,
                payer,
                webhook_url,
                idempotency_key,
            )
        )

    def get(self, internal_code: str) -> Charge:
        return self._c._send(get_charge_plan(internal_code))

    def find(self, *, external_reference: str) -> Charge:
        return self._c._send(find_charge_plan(external_reference))

    def cancel(self, internal_code: str) -> Charge:
        return self._c._send(cancel_charge_plan(internal_code))

    def qr_code(self, internal_code: str, format: ImageFormat = "png") -> bytes:
        return self._c._send(qr_code_plan(internal_code, format))

    def refund(
        self,
        internal_code: str,
        amount: Amount | Decimal | str,
        *,
        end_to_end_id: str | None = None,
        reason: RefundReason = "ORIGINAL",
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Refund:
        """Send back (part of) a payment of the charge: PROCESSING until SPI answers."""
        return self._c._send(
            refund_plan(internal_code, amount, end_to_end_id, reason, description, idempotency_key)
        )


class AsyncCashIns:
    def __init__(self, client: AsyncConnectPSP) -> None:
        self._c = client

    async def create(
        self,
        amount: Amount | Decimal | str | None,
        external_reference: str,
        *,
        type: ChargeType = "DYNAMIC",
        description: str | None = None,
        expires_in: int | None = None,
        payer: Mapping[str, str] | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Charge:
        return await self._c._send(
            create_charge_plan(
                amount,
                external_reference,
                type,
                description,
                expires_in,
                payer,
                webhook_url,
                idempotency_key,
            )
        )

    async def get(self, internal_code: str) -> Charge:
        return await self._c._send(get_charge_plan(internal_code))

    async def find(self, *, external_reference: str) -> Charge:
        return await self._c._send(find_charge_plan(external_reference))

    async def cancel(self, internal_code: str) -> Charge:
        return await self._c._send(cancel_charge_plan(internal_code))

    async def qr_code(self, internal_code: str, format: ImageFormat = "png") -> bytes:
        return await self._c._send(qr_code_plan(internal_code, format))

    async def refund(
        self,
        internal_code: str,
        amount: Amount | Decimal | str,
        *,
        end_to_end_id: str | None = None,
        reason: RefundReason = "ORIGINAL",
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Refund:
        return await self._c._send(
            refund_plan(internal_code, amount, end_to_end_id, reason, description, idempotency_key)
        )


class PixKeys:
    def __init__(self, client: ConnectPSP) -> None:
        self._c = client

    def register(
        self, type: str, key: str | None = None, *, idempotency_key: str | None = None
    ) -> RegisteredPixKey:
        """A retry with the same ``idempotency_key`` (one is made per call) registers
        nothing more: an EVP key is derived from it."""
        return self._c._send(register_pix_key_plan(type, key, idempotency_key))

    def list(self) -> list[RegisteredPixKey]:
        return self._c._send(list_pix_keys_plan())

    def delete(self, key: str) -> None:
        self._c._send(delete_pix_key_plan(key))


class AsyncPixKeys:
    def __init__(self, client: AsyncConnectPSP) -> None:
        self._c = client

    async def register(
        self, type: str, key: str | None = None, *, idempotency_key: str | None = None
    ) -> RegisteredPixKey:
        return await self._c._send(register_pix_key_plan(type, key, idempotency_key))

    async def list(self) -> list[RegisteredPixKey]:
        return await self._c._send(list_pix_keys_plan())

    async def delete(self, key: str) -> None:
        await self._c._send(delete_pix_key_plan(key))


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


class Sandbox:
    def __init__(self, client: ConnectPSP) -> None:
        self._c = client

    def pay(
        self,
        *,
        br_code: str | None = None,
        pix_key: str | None = None,
        amount: Amount | Decimal | str | None = None,
        payer: Mapping[str, str] | None = None,
        paid_at: datetime | None = None,
    ) -> str:
        return self._c._send(sandbox_pay_plan(br_code, pix_key, amount, payer, paid_at))


class AsyncSandbox:
    def __init__(self, client: AsyncConnectPSP) -> None:
        self._c = client

    async def pay(
        self,
        *,
        br_code: str | None = None,
        pix_key: str | None = None,
        amount: Amount | Decimal | str | None = None,
        payer: Mapping[str, str] | None = None,
        paid_at: datetime | None = None,
    ) -> str:
        return await self._c._send(sandbox_pay_plan(br_code, pix_key, amount, payer, paid_at))
