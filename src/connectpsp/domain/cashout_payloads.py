"""A cash-out's webhook payloads, in the two shapes of the seeds: the tutorial's
``CASHOUT_COMPLETED`` / ``CASHOUT_FAILED`` for the cash-out's own ``webhookUrl``, and the
account movement ``CashOut`` (DEBIT) for the client's registered endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectpsp.domain.cashout import BankAccount, CashOut, CashOutStatus
from connectpsp.domain.clock import iso_local, iso_utc
from connectpsp.domain.documents import mask_document
from connectpsp.domain.money import to_decimal
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.returns import CashOutReturn, return_json

__all__ = [
    "cash_out_event",
    "destination_json",
    "movement_event",
    "return_movement_event",
    "returned_event",
]


def cash_out_event(cash_out: CashOut, at: datetime) -> dict[str, Any]:
    """Seed 000: CASHOUT_COMPLETED / CASHOUT_FAILED, for the cash-out's own webhookUrl."""
    completed = cash_out.status is CashOutStatus.COMPLETED
    data: dict[str, Any] = {
        "internalCode": cash_out.internal_code,
        "externalReference": cash_out.external_reference,
        "endToEndId": cash_out.end_to_end_id,
        "status": cash_out.status.value,
        "amount": to_decimal(cash_out.amount),
        "payee": {
            "name": cash_out.payee.name,
            "document": mask_document(cash_out.payee.document),
            "destination": destination_json(cash_out),
        },
        "requestedAt": iso_local(cash_out.requested_at),
        "paidAt": iso_local(cash_out.paid_at) if cash_out.paid_at else None,
    }
    if not completed:
        assert cash_out.failure is not None
        data["failure"] = {"code": cash_out.failure.code, "message": cash_out.failure.message}
    return {
        "eventType": "CASHOUT_COMPLETED" if completed else "CASHOUT_FAILED",
        "eventAt": iso_utc(at),
        "data": data,
    }


def movement_event(
    cash_out: CashOut, at: datetime, participants: ParticipantDirectory
) -> dict[str, Any]:
    """Seed 004: the account movement ``CashOut`` (DEBIT), CONFIRMED or ERROR."""
    confirmed = cash_out.status is CashOutStatus.COMPLETED
    creditor = cash_out.creditor
    destination = cash_out.payee.destination
    ispb: str | None
    branch: str | None
    account: str | None
    if creditor is not None:
        name, document = creditor.name, creditor.document
        ispb, branch, account = creditor.ispb, creditor.branch, creditor.account
    elif isinstance(destination, BankAccount):
        name, document = cash_out.payee.name, cash_out.payee.document
        ispb, branch, account = destination.ispb, destination.branch, destination.account
    else:  # the key never resolved: no bank to name
        name, document = cash_out.payee.name, cash_out.payee.document
        ispb = branch = account = None
    bank = participants.get(ispb) if ispb else None
    failure = cash_out.failure
    return {
        "event": "CashOut",
        "status": "CONFIRMED" if confirmed else "ERROR",
        "transactionType": "PIX",
        "movementType": "DEBIT",
        "transactionId": cash_out.id,
        "externalId": cash_out.external_reference,
        "endToEndId": cash_out.end_to_end_id,
        "pixKey": None if isinstance(destination, BankAccount) else destination.key,
        "feeAmount": to_decimal(cash_out.fee),
        "originalAmount": to_decimal(cash_out.amount),
        "finalAmount": to_decimal(cash_out.final_amount),
        "processingDate": at.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "errorCode": failure.code if failure and not confirmed else None,
        "errorMessage": failure.message if failure and not confirmed else None,
        "counterpart": {
            "name": name,
            "document": mask_document(document),
            "bank": {
                "bankISPB": ispb,
                "bankName": bank.short_name if bank else None,
                "bankCode": bank.compe if bank else None,
                "accountBranch": branch,
                "accountNumber": account,
            },
        },
        "metadata": {},
    }


def destination_json(cash_out: CashOut) -> dict[str, Any]:
    """A cash-out's destination as the request gave it."""
    d = cash_out.payee.destination
    if isinstance(d, BankAccount):
        return {
            "type": "BANK_ACCOUNT",
            "bankAccount": {
                "ispb": d.ispb,
                "branch": d.branch,
                "account": d.account,
                "accountType": d.account_type.value,
            },
        }
    if d.br_code is not None:
        # The code as sent, and what it paid: its key and its charge's txid.
        return {
            "type": "BRCODE",
            "brCode": d.br_code,
            "pixKeyType": d.key_type.value,
            "pixKey": d.key,
            "txid": d.txid,
        }
    return {"type": "PIX", "pixKeyType": d.key_type.value, "pixKey": d.key}


def returned_event(
    cash_out: CashOut, returned: CashOutReturn, returns: tuple[CashOutReturn, ...], at: datetime
) -> dict[str, Any]:
    """CASHOUT_RETURNED, for the cash-out's own webhookUrl: the cash-out as it stands
    (still COMPLETED), with the return and every return so far."""
    return {
        "eventType": "CASHOUT_RETURNED",
        "eventAt": iso_utc(at),
        "data": {
            "internalCode": cash_out.internal_code,
            "externalReference": cash_out.external_reference,
            "endToEndId": cash_out.end_to_end_id,
            "status": cash_out.status.value,
            "amount": to_decimal(cash_out.amount),
            "returnedAmount": to_decimal(sum(r.amount for r in returns)),
            "return": return_json(returned),
            "returns": [return_json(r) for r in returns],
        },
    }


def return_movement_event(
    cash_out: CashOut, returned: CashOutReturn, at: datetime, participants: ParticipantDirectory
) -> dict[str, Any]:
    """The account movement ``CashOutReturn`` (CREDIT): the payee sent money back."""
    movement = movement_event(cash_out, at, participants)
    movement.update(
        {
            "event": "CashOutReturn",
            "status": "CONFIRMED",
            "movementType": "CREDIT",
            "endToEndId": returned.return_id,
            "originalEndToEndId": cash_out.end_to_end_id,
            "feeAmount": to_decimal(0),
            "originalAmount": to_decimal(returned.amount),
            "finalAmount": to_decimal(returned.amount),
            "errorCode": None,
            "errorMessage": None,
            "metadata": {"reason": returned.reason},
        }
    )
    return movement
