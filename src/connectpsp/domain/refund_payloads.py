"""A refund as the API shows it, and its webhooks in the two shapes: the tutorial's
``REFUND_COMPLETED`` / ``REFUND_FAILED`` for the charge's own ``webhookUrl``, and the
account movement ``CashInRefund`` (DEBIT) for the client's registered endpoints, with
the payer who gets the money back as counterpart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectpsp.domain.clock import iso_local, iso_utc
from connectpsp.domain.documents import mask_document
from connectpsp.domain.money import to_decimal
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.refunds import Refund, RefundStatus
from connectpsp.domain.spi import failure_for

__all__ = ["refund_event", "refund_json", "refund_movement_event"]


def refund_json(refund: Refund) -> dict[str, Any]:
    """A refund as ``POST`` answers it (PROCESSING) and ``GET`` reads it."""
    failed = refund.status is RefundStatus.FAILED
    failure = failure_for(refund.failure_reason) if failed else None
    return {
        "refundId": refund.id,
        "returnId": refund.return_id,
        "internalCode": refund.internal_code,
        "endToEndId": refund.end_to_end_id,
        "amount": to_decimal(refund.amount),
        "reason": refund.reason.value,
        "description": refund.description,
        "status": refund.status.value,
        "requestedAt": iso_local(refund.requested_at),
        "completedAt": iso_local(refund.completed_at) if refund.completed_at else None,
        "failure": (
            {"code": failure.code, "message": failure.message, "reason": refund.failure_reason}
            if failure
            else None
        ),
    }


def refund_event(refund: Refund, at: datetime) -> dict[str, Any]:
    """REFUND_COMPLETED / REFUND_FAILED, for the charge's own webhookUrl."""
    completed = refund.status is RefundStatus.COMPLETED
    return {
        "eventType": "REFUND_COMPLETED" if completed else "REFUND_FAILED",
        "eventAt": iso_utc(at),
        "data": refund_json(refund),
    }


def refund_movement_event(
    refund: Refund, at: datetime, participants: ParticipantDirectory
) -> dict[str, Any]:
    """The account movement ``CashInRefund`` (DEBIT), CONFIRMED or ERROR: an ERROR moved
    nothing in the end (the reservation came back)."""
    confirmed = refund.status is RefundStatus.COMPLETED
    failure = None if confirmed else failure_for(refund.failure_reason)
    bank = participants.get(refund.payer.ispb)
    return {
        "event": "CashInRefund",
        "status": "CONFIRMED" if confirmed else "ERROR",
        "transactionType": "PIX",
        "movementType": "DEBIT",
        "transactionId": refund.id,
        "externalId": None,
        "endToEndId": refund.return_id,
        "originalEndToEndId": refund.end_to_end_id,
        "pixKey": None,
        "feeAmount": to_decimal(0),
        "originalAmount": to_decimal(refund.amount),
        "finalAmount": to_decimal(refund.amount),
        "processingDate": at.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "errorCode": failure.code if failure else None,
        "errorMessage": failure.message if failure else None,
        "counterpart": {
            "name": refund.payer.name,
            "document": mask_document(refund.payer.document),
            "bank": {
                "bankISPB": refund.payer.ispb,
                "bankName": bank.short_name if bank else None,
                "bankCode": bank.compe if bank else None,
            },
        },
        "metadata": {"reason": refund.reason.spi_code, "internalCode": refund.internal_code},
    }
