"""``psp.refunds``: read a refund, and refund any Pix received by its endToEndId (a
charge's payments are refunded with ``psp.cash_ins.refund``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from connectpsp.client._charges import Refund
from connectpsp.client._models import Amount
from connectpsp.client._plans import get_refund_plan, refund_plan
from connectpsp.client._resources import RefundReason

if TYPE_CHECKING:
    from connectpsp.client._client import AsyncConnectPSP, ConnectPSP

__all__ = ["AsyncRefunds", "Refunds"]


class Refunds:
    def __init__(self, client: ConnectPSP) -> None:
        self._c = client

    def get(self, refund_id: str) -> Refund:
        """Any refund of yours by its id, a charge's or a MED infraction's."""
        return self._c._send(get_refund_plan(refund_id))

    def create(
        self,
        end_to_end_id: str,
        amount: Amount | Decimal | str,
        *,
        reason: RefundReason = "ORIGINAL",
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Refund:
        """Send back (part of) any Pix you received, one to a key with no charge among
        them: PROCESSING until SPI answers."""
        return self._c._send(
            refund_plan(None, amount, end_to_end_id, reason, description, idempotency_key)
        )


class AsyncRefunds:
    def __init__(self, client: AsyncConnectPSP) -> None:
        self._c = client

    async def get(self, refund_id: str) -> Refund:
        return await self._c._send(get_refund_plan(refund_id))

    async def create(
        self,
        end_to_end_id: str,
        amount: Amount | Decimal | str,
        *,
        reason: RefundReason = "ORIGINAL",
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Refund:
        return await self._c._send(
            refund_plan(None, amount, end_to_end_id, reason, description, idempotency_key)
        )
