"""Domain objects as the JSON the seed shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectpsp.brcode import BrCode
from connectpsp.domain.cashin import CashIn, Charge
from connectpsp.domain.cashin_payloads import cash_in_json
from connectpsp.domain.cashout import AcceptedCashOut, CashOut
from connectpsp.domain.cashout_payloads import destination_json
from connectpsp.domain.clock import iso_local
from connectpsp.domain.documents import mask_document
from connectpsp.domain.ledger import Balance
from connectpsp.domain.money import Centavos, to_decimal
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.refund_payloads import refund_json
from connectpsp.domain.refunds import Refund
from connectpsp.domain.returns import CashOutReturn, return_json
from connectpsp.service.ports import PixKey

__all__ = ["accepted", "balance", "br_code", "cash_out", "charge", "pix_key"]


def accepted(c: AcceptedCashOut) -> dict[str, Any]:
    """The 202 body, field for field as the seed writes it."""
    return {
        "transactionId": c.id,
        "internalCode": c.internal_code,
        "externalReference": c.external_reference,
        "status": "PROCESSING",
        "requestedAt": iso_local(c.requested_at),
    }


def cash_out(c: CashOut, returns: Sequence[CashOutReturn] = ()) -> dict[str, Any]:
    """A cash-out, with what its payee's bank sent back (it stays COMPLETED)."""
    return {
        "transactionId": c.id,
        "internalCode": c.internal_code,
        "externalReference": c.external_reference,
        "status": c.status.value,
        "amount": to_decimal(c.amount),
        "feeAmount": to_decimal(c.fee),
        "finalAmount": to_decimal(c.final_amount),
        "description": c.description,
        "payee": {
            "name": c.payee.name,
            "document": mask_document(c.payee.document),
            "destination": destination_json(c),
        },
        "endToEndId": c.end_to_end_id,
        "failure": ({"code": c.failure.code, "message": c.failure.message} if c.failure else None),
        "requestedAt": iso_local(c.requested_at),
        "paidAt": iso_local(c.paid_at) if c.paid_at else None,
        "returnedAmount": to_decimal(sum(r.amount for r in returns)),
        "returns": [return_json(r) for r in returns],
    }


def balance(b: Balance, blocked: Centavos = 0) -> dict[str, Any]:
    """``total`` is all the client holds: available, reserved and blocked."""
    return {
        "available": to_decimal(b.available),
        "reserved": to_decimal(b.reserved),
        "blocked": to_decimal(blocked),
        "total": to_decimal(b.total + blocked),
    }


def br_code(c: BrCode) -> dict[str, Any]:
    """A decoded BR Code; the amount as every amount goes out (50.00), or null."""
    return {
        "type": c.type,
        "pixKey": c.pix_key,
        "url": c.url,
        "amount": None if c.amount is None else to_decimal(c.amount),
        "merchantName": c.merchant_name,
        "merchantCity": c.merchant_city,
        "txid": c.txid,
        "description": c.description,
    }


def charge(
    c: Charge,
    payments: list[CashIn],
    participants: ParticipantDirectory,
    refunds: dict[str, list[Refund]] | None = None,
) -> dict[str, Any]:
    """A charge with its payments and their refunds; the payer's document masked, times
    in São Paulo."""
    refunds = refunds or {}
    return {
        "transactionId": c.id,
        "internalCode": c.internal_code,
        "txid": c.txid,
        "externalReference": c.external_reference,
        "type": c.type.value,
        "status": c.status.value,
        "amount": to_decimal(c.amount) if c.amount is not None else None,
        "description": c.description,
        "brCode": c.br_code,
        "pixKey": c.pix_key,
        "expiresAt": iso_local(c.expires_at) if c.expires_at else None,
        "createdAt": iso_local(c.created_at),
        "payments": [
            {
                **cash_in_json(p, participants),
                "refunds": [refund_json(r) for r in refunds.get(p.end_to_end_id, [])],
            }
            for p in payments
        ],
    }


def pix_key(k: PixKey) -> dict[str, Any]:
    return {"key": k.key, "type": k.key_type, "createdAt": iso_local(k.created_at)}
