"""MED in the SDK: ``psp.infractions.list()`` and ``.get(id)``, the fraud reports against
Pix you received, with the funds each blocked; immutable, with ``Decimal`` amounts and
aware datetimes, as ``_models``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connectpsp.client._models import _money, parse_time
from connectpsp.client._plans import Plan, _segment

if TYPE_CHECKING:
    from connectpsp.client._client import AsyncConnectPSP, ConnectPSP

__all__ = [
    "AsyncInfractions",
    "Infraction",
    "InfractionChanged",
    "InfractionMovement",
    "Infractions",
    "read_event",
]

_TYPES = ("INFRACTION_REPORTED", "INFRACTION_ACCEPTED", "INFRACTION_REJECTED")
_MOVEMENTS = ("InfractionReported", "InfractionAccepted", "InfractionRejected")


@dataclass(frozen=True)
class Infraction:
    """A fraud report (MED) against a Pix you received: OPEN while its funds are blocked,
    then ACCEPTED (they went back to the payer: ``refund_id``) or REJECTED (released)."""

    infraction_id: str
    end_to_end_id: str
    status: str  # OPEN, ACCEPTED or REJECTED
    amount: Decimal  # what the report asks for
    blocked_amount: Decimal  # what was found and blocked
    details: str | None
    reported_at: datetime
    deadline: datetime
    decided_at: datetime | None
    decided_by: str | None
    rejection_reason: str | None
    refund_id: str | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Infraction:
        return cls(
            infraction_id=d["infractionId"],
            end_to_end_id=d["endToEndId"],
            status=d["status"],
            amount=_money(d["amount"]),
            blocked_amount=_money(d["blockedAmount"]),
            details=d.get("details"),
            reported_at=parse_time(d["reportedAt"]),
            deadline=parse_time(d["deadline"]),
            decided_at=parse_time(d["decidedAt"]) if d.get("decidedAt") else None,
            decided_by=d.get("decidedBy"),
            rejection_reason=d.get("rejectionReason"),
            refund_id=d.get("refundId"),
        )


@dataclass(frozen=True)
class InfractionChanged:
    """INFRACTION_REPORTED, _ACCEPTED or _REJECTED, sent to the charge's own webhookUrl
    when the Pix reported paid a charge; ``infraction`` is as ``psp.infractions.get``
    reads it."""

    webhook_id: str
    event_type: str
    event_at: datetime
    infraction: Infraction


@dataclass(frozen=True)
class InfractionMovement:
    """What a MED step did to your balance, to registered endpoints: InfractionReported
    (DEBIT: ``final_amount`` was blocked), InfractionAccepted (CREDIT: the block's end;
    the refund's own CashInRefund DEBIT follows) or InfractionRejected (CREDIT: released)."""

    webhook_id: str
    event: str
    movement_type: str
    infraction_id: str
    end_to_end_id: str
    original_amount: Decimal
    final_amount: Decimal
    processing_date: datetime
    refund_id: str | None


def read_event(message_id: str, d: dict[str, Any]) -> InfractionChanged | InfractionMovement | None:
    """A MED event in either shape; None for any other event. ``KeyError``, ``TypeError``
    or ``ValueError`` for one that lacks what it must hold."""
    if d.get("event") in _MOVEMENTS:
        metadata = d.get("metadata") or {}
        return InfractionMovement(
            webhook_id=message_id,
            event=d["event"],
            movement_type=d["movementType"],
            infraction_id=d["transactionId"],
            end_to_end_id=d["endToEndId"],
            original_amount=_money(d["originalAmount"]),
            final_amount=_money(d["finalAmount"]),
            processing_date=parse_time(d["processingDate"]),
            refund_id=metadata.get("refundId"),
        )
    if d.get("eventType") in _TYPES:
        return InfractionChanged(
            webhook_id=message_id,
            event_type=d["eventType"],
            event_at=parse_time(d["eventAt"]),
            infraction=Infraction.from_json(d["data"]),
        )
    return None


def list_plan(status: str | None, limit: int) -> Plan[list[Infraction]]:
    params: dict[str, Any] = {"limit": limit}
    if status is not None:
        params["status"] = status
    return Plan(
        "GET",
        "/infractions",
        lambda d: [Infraction.from_json(i) for i in d["items"]],
        params=params,
    )


def get_plan(infraction_id: str) -> Plan[Infraction]:
    return Plan("GET", f"/infractions/{_segment(infraction_id)}", Infraction.from_json)


class Infractions:
    def __init__(self, client: ConnectPSP) -> None:
        self._c = client

    def list(self, *, status: str | None = None, limit: int = 100) -> list[Infraction]:
        """Newest first; ``status="OPEN"`` for those still blocking funds."""
        return self._c._send(list_plan(status, limit))

    def get(self, infraction_id: str) -> Infraction:
        return self._c._send(get_plan(infraction_id))


class AsyncInfractions:
    def __init__(self, client: AsyncConnectPSP) -> None:
        self._c = client

    async def list(self, *, status: str | None = None, limit: int = 100) -> list[Infraction]:
        return await self._c._send(list_plan(status, limit))

    async def get(self, infraction_id: str) -> Infraction:
        return await self._c._send(get_plan(infraction_id))
