"""A cash-in's webhook payloads, in the two shapes cash-outs use: the tutorial's
``CASHIN_COMPLETED`` / ``CASHIN_EXPIRED`` for the charge's own ``webhookUrl``, and the
account movement ``CashIn`` (CREDIT) for the client's registered endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectpsp.domain.cashin import CashIn, CashInPayer, Charge
from connectpsp.domain.clock import iso_local, iso_utc
from connectpsp.domain.documents import mask_document
from connectpsp.domain.ids import derived_id
from connectpsp.domain.money import to_decimal
from connectpsp.domain.participants import ParticipantDirectory

__all__ = [
    "cash_in_completed",
    "cash_in_json",
    "charge_expired",
    "movement_event",
    "payer_json",
]


def payer_json(payer: CashInPayer, participants: ParticipantDirectory) -> dict[str, Any]:
    bank = participants.get(payer.ispb)
    return {
        "name": payer.name,
        "document": mask_document(payer.document),
        "bank": {
            "ispb": payer.ispb,
            "name": bank.short_name if bank else None,
            "code": bank.compe if bank else None,
        },
    }


def cash_in_json(cash_in: CashIn, participants: ParticipantDirectory) -> dict[str, Any]:
    """One payment, as a charge lists it."""
    return {
        "endToEndId": cash_in.end_to_end_id,
        "amount": to_decimal(cash_in.amount),
        "feeAmount": to_decimal(cash_in.fee),
        "netAmount": to_decimal(cash_in.net_amount),
        "paidAt": iso_local(cash_in.paid_at),
        "payer": payer_json(cash_in.payer, participants),
    }


def cash_in_completed(
    cash_in: CashIn, charge: Charge | None, at: datetime, participants: ParticipantDirectory
) -> dict[str, Any]:
    """CASHIN_COMPLETED, for the charge's own webhookUrl (a Pix to a key alone has none)."""
    return {
        "eventType": "CASHIN_COMPLETED",
        "eventAt": iso_utc(at),
        "data": {
            "transactionId": charge.id if charge else transaction_id(cash_in),
            "internalCode": charge.internal_code if charge else None,
            "txid": cash_in.txid,
            "externalReference": charge.external_reference if charge else None,
            "status": charge.status.value if charge else "COMPLETED",
            "amount": to_decimal(cash_in.amount),
            "feeAmount": to_decimal(cash_in.fee),
            "netAmount": to_decimal(cash_in.net_amount),
            "endToEndId": cash_in.end_to_end_id,
            "paidAt": iso_local(cash_in.paid_at),
            "payer": payer_json(cash_in.payer, participants),
        },
    }


def charge_expired(charge: Charge, at: datetime) -> dict[str, Any]:
    """CASHIN_EXPIRED: a dynamic charge nobody paid in time."""
    return {
        "eventType": "CASHIN_EXPIRED",
        "eventAt": iso_utc(at),
        "data": {
            "transactionId": charge.id,
            "internalCode": charge.internal_code,
            "txid": charge.txid,
            "externalReference": charge.external_reference,
            "status": charge.status.value,
            "amount": to_decimal(charge.amount) if charge.amount is not None else None,
            "expiresAt": iso_local(charge.expires_at) if charge.expires_at else None,
        },
    }


def transaction_id(cash_in: CashIn) -> str:
    """A Pix received with no charge is its own transaction: the id of its ledger credit."""
    return derived_id(cash_in.end_to_end_id, "cash_in")


def movement_event(
    cash_in: CashIn, charge: Charge | None, at: datetime, participants: ParticipantDirectory
) -> dict[str, Any]:
    """The account movement ``CashIn`` (CREDIT, CONFIRMED), with the payer as counterpart;
    ``finalAmount`` is what reached the account: the amount less the fee."""
    bank = participants.get(cash_in.payer.ispb)
    return {
        "event": "CashIn",
        "status": "CONFIRMED",
        "transactionType": "PIX",
        "movementType": "CREDIT",
        "transactionId": charge.id if charge else transaction_id(cash_in),
        "externalId": charge.external_reference if charge else None,
        "endToEndId": cash_in.end_to_end_id,
        "pixKey": cash_in.pix_key,
        "feeAmount": to_decimal(cash_in.fee),
        "originalAmount": to_decimal(cash_in.amount),
        "finalAmount": to_decimal(cash_in.net_amount),
        "processingDate": at.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "errorCode": None,
        "errorMessage": None,
        "counterpart": {
            "name": cash_in.payer.name,
            "document": mask_document(cash_in.payer.document),
            "bank": {
                "bankISPB": cash_in.payer.ispb,
                "bankName": bank.short_name if bank else None,
                "bankCode": bank.compe if bank else None,
            },
        },
        "metadata": {},
    }
