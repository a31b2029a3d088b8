"""A MED infraction as the API shows it, and its webhooks: the tutorial's shape
(``INFRACTION_REPORTED`` / ``_ACCEPTED`` / ``_REJECTED``) for the charge's own
``webhookUrl`` when the Pix paid a charge, and the account's view for the client's
registered endpoints: the funds blocked (DEBIT of the available balance) or given back
(CREDIT), with the infraction that moved them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectpsp.domain.clock import iso_local, iso_utc
from connectpsp.domain.infractions import Infraction, InfractionStatus
from connectpsp.domain.money import to_decimal

__all__ = ["infraction_event", "infraction_json", "infraction_movement"]

_TYPE = {
    InfractionStatus.OPEN: "INFRACTION_REPORTED",
    InfractionStatus.ACCEPTED: "INFRACTION_ACCEPTED",
    InfractionStatus.REJECTED: "INFRACTION_REJECTED",
}
_MOVEMENT = {
    InfractionStatus.OPEN: "InfractionReported",
    InfractionStatus.ACCEPTED: "InfractionAccepted",
    InfractionStatus.REJECTED: "InfractionRejected",
}


def infraction_json(i: Infraction) -> dict[str, Any]:
    return {
        "infractionId": i.id,
        "endToEndId": i.end_to_end_id,
        "status": i.status.value,
        "amount": to_decimal(i.amount),
        "blockedAmount": to_decimal(i.blocked),
        "details": i.details,
        "reportedAt": iso_local(i.reported_at),
        "deadline": iso_local(i.deadline),
        "decidedAt": iso_local(i.decided_at) if i.decided_at else None,
        "decidedBy": i.decided_by,
        "rejectionReason": i.rejection_reason,
        "refundId": i.refund_id,
    }


def infraction_event(i: Infraction, at: datetime) -> dict[str, Any]:
    return {
        "eventType": _TYPE[i.status],
        "eventAt": iso_utc(at),
        "data": infraction_json(i),
    }


def infraction_movement(i: Infraction, at: datetime) -> dict[str, Any]:
    """A report moves ``blocked`` out of the available balance (DEBIT); a decision ends
    the block and gives it back (CREDIT). After an acceptance the refund takes it again,
    and its own ``CashInRefund`` DEBIT follows when SPI settles it (ERROR, moving
    nothing, when SPI rejects it): summed, a MED moves exactly what left the account."""
    credit = i.status is not InfractionStatus.OPEN
    return {
        "event": _MOVEMENT[i.status],
        "status": "CONFIRMED",
        "transactionType": "PIX",
        "movementType": "CREDIT" if credit else "DEBIT",
        "transactionId": i.id,
        "endToEndId": i.end_to_end_id,
        "originalAmount": to_decimal(i.amount),
        "finalAmount": to_decimal(i.blocked),
        "processingDate": at.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "metadata": {
            "infractionStatus": i.status.value,
            "deadline": iso_utc(i.deadline),
            "refundId": i.refund_id,
        },
    }
