"""Creating a charge, as the acceptance engine decides it: an ``X-Idempotency-Key``
retried gets the first answer (the charge as created, stored as data), and an
``externalReference`` is the client's once. An accepted dynamic charge queues its
expiry job in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectpsp.domain.cashin import Charge, ChargeRequest, ChargeStatus, ChargeType, new_charge
from connectpsp.domain.errors import ConnectPSPError, DuplicateExternalReference
from connectpsp.service.acceptance import Submission
from connectpsp.service.ports import UnitOfWork

__all__ = ["EXPIRE_TOPIC", "ChargeFlow", "NewCharge"]

EXPIRE_TOPIC = "expire_charge"


@dataclass(frozen=True)
class NewCharge:
    """A charge request with what the flow needs besides: the key its code pays."""

    request: ChargeRequest
    pix_key: str


@dataclass
class _Charges:
    references: set[tuple[str, str]]
    added: list[Charge] = field(default_factory=list)


class ChargeFlow:
    name = "charge"
    refusals: tuple[type[ConnectPSPError], ...] = (DuplicateExternalReference,)
    secret = False

    def __init__(self, location_base: str) -> None:
        self._location_base = location_base

    def load(
        self, uow: UnitOfWork, batch: Sequence[Submission[NewCharge]], now: datetime
    ) -> _Charges:
        wanted = sorted({(s.client.id, s.command.request.external_reference) for s in batch})
        return _Charges(uow.charges.references_taken(wanted))

    def decide(self, state: _Charges, submission: Submission[NewCharge], now: datetime) -> Charge:
        client, command = submission.client, submission.command
        reference = (client.id, command.request.external_reference)
        if reference in state.references:
            raise DuplicateExternalReference("A charge with this externalReference already exists.")
        charge = new_charge(client, command.request, command.pix_key, self._location_base, now)
        state.references.add(reference)
        state.added.append(charge)
        return charge

    def write(self, uow: UnitOfWork, state: _Charges, now: datetime) -> None:
        uow.charges.add(state.added)
        for charge in state.added:
            if charge.expires_at is not None:
                uow.outbox.enqueue(
                    EXPIRE_TOPIC,
                    [(charge.id, {"chargeId": charge.id})],
                    available_at=charge.expires_at,
                )

    def record(self, result: Charge) -> dict[str, Any]:
        return _charge_record(result)

    def restore(self, record: dict[str, Any]) -> Charge:
        return _charge_from_record(record)

    def committed(self, results: list[Charge]) -> None:
        pass


def _charge_record(c: Charge) -> dict[str, Any]:
    """The charge as created, to answer a retried request with the same bytes."""
    return {
        "id": c.id,
        "internalCode": c.internal_code,
        "clientId": c.client_id,
        "txid": c.txid,
        "externalReference": c.external_reference,
        "type": c.type.value,
        "amount": c.amount,
        "description": c.description,
        "pixKey": c.pix_key,
        "locationId": c.location_id,
        "brCode": c.br_code,
        "expiresAt": c.expires_at.isoformat() if c.expires_at else None,
        "createdAt": c.created_at.isoformat(),
        "webhookUrl": c.webhook_url,
        "payerName": c.payer_name,
        "payerDocument": c.payer_document,
    }


def _charge_from_record(r: dict[str, Any]) -> Charge:
    created = datetime.fromisoformat(r["createdAt"])
    return Charge(
        id=r["id"],
        internal_code=r["internalCode"],
        client_id=r["clientId"],
        txid=r["txid"],
        external_reference=r["externalReference"],
        type=ChargeType(r["type"]),
        status=ChargeStatus.ACTIVE,  # as answered when created
        amount=r["amount"],
        description=r["description"],
        pix_key=r["pixKey"],
        location_id=r["locationId"],
        br_code=r["brCode"],
        expires_at=datetime.fromisoformat(r["expiresAt"]) if r["expiresAt"] else None,
        created_at=created,
        updated_at=created,
        webhook_url=r["webhookUrl"],
        payer_name=r["payerName"],
        payer_document=r["payerDocument"],
    )
