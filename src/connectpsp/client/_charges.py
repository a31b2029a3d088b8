"""What the cash-in calls return: charges with the payments they received and their
refunds, and your own Pix keys. Immutable, with ``Decimal`` amounts and aware datetimes,
as ``_models``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectpsp.client._models import _money, parse_time

__all__ = [
    "CashInPayer",
    "CashInPayment",
    "Charge",
    "Refund",
    "RefundFailure",
    "RegisteredPixKey",
]


@dataclass(frozen=True)
class CashInPayer:
    """Who paid a cash-in: the document masked, the bank from the participants list."""

    name: str
    document: str  # masked: ***.982.247-**
    bank_ispb: str
    bank_name: str | None
    bank_code: str | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CashInPayer:
        bank = d["bank"]
        return cls(d["name"], d["document"], bank["ispb"], bank.get("name"), bank.get("code"))


@dataclass(frozen=True)
class RefundFailure:
    """Why SPI rejected a refund: ``reason`` is its code (AC07: the account closed)."""

    code: str
    message: str
    reason: str | None


@dataclass(frozen=True)
class Refund:
    """Money of a received Pix sent back to its payer (a ``devolucao``): PROCESSING, then
    COMPLETED or FAILED (then ``failure`` says why, and the amount is available again).
    ``return_id`` is the return's own id in the Pix network; ``end_to_end_id`` is the
    payment's."""

    refund_id: str
    return_id: str
    internal_code: str | None  # the charge's
    end_to_end_id: str
    amount: Decimal
    reason: str  # ORIGINAL or WITHDRAWAL
    description: str | None
    status: str  # PROCESSING, COMPLETED or FAILED
    requested_at: datetime
    completed_at: datetime | None
    failure: RefundFailure | None

    @property
    def is_final(self) -> bool:
        return self.status in ("COMPLETED", "FAILED")

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Refund:
        failure = d.get("failure")
        return cls(
            refund_id=d["refundId"],
            return_id=d["returnId"],
            internal_code=d.get("internalCode"),
            end_to_end_id=d["endToEndId"],
            amount=_money(d["amount"]),
            reason=d["reason"],
            description=d.get("description"),
            status=d["status"],
            requested_at=parse_time(d["requestedAt"]),
            completed_at=parse_time(d["completedAt"]) if d.get("completedAt") else None,
            failure=(
                RefundFailure(failure["code"], failure["message"], failure.get("reason"))
                if failure
                else None
            ),
        )


@dataclass(frozen=True)
class CashInPayment:
    """One Pix a charge received; ``net_amount`` (amount less the fee) is what was credited.
    ``refunds`` are what went back of it, oldest first."""

    end_to_end_id: str
    amount: Decimal
    fee_amount: Decimal
    net_amount: Decimal
    paid_at: datetime
    payer: CashInPayer
    refunds: tuple[Refund, ...] = ()

    @property
    def refundable(self) -> Decimal:
        """What may still go back: the amount less every refund not FAILED."""
        held = sum((r.amount for r in self.refunds if r.status != "FAILED"), Decimal(0))
        return self.amount - held

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CashInPayment:
        return cls(
            d["endToEndId"],
            _money(d["amount"]),
            _money(d["feeAmount"]),
            _money(d["netAmount"]),
            parse_time(d["paidAt"]),
            CashInPayer.from_json(d["payer"]),
            tuple(Refund.from_json(r) for r in d.get("refunds", ())),
        )


@dataclass(frozen=True)
class Charge:
    """A charge: a BR Code to be paid. A DYNAMIC one takes one payment; a STATIC code may
    take many, and has an ``amount`` only if it fixes one."""

    transaction_id: str
    internal_code: str
    txid: str
    external_reference: str
    type: str  # DYNAMIC or STATIC
    status: str  # ACTIVE, COMPLETED, EXPIRED or CANCELLED
    amount: Decimal | None
    description: str | None
    br_code: str  # the "Pix copia e cola" text
    pix_key: str
    expires_at: datetime | None  # DYNAMIC only
    created_at: datetime
    payments: tuple[CashInPayment, ...]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Charge:
        amount = d.get("amount")
        return cls(
            transaction_id=d["transactionId"],
            internal_code=d["internalCode"],
            txid=d["txid"],
            external_reference=d["externalReference"],
            type=d["type"],
            status=d["status"],
            amount=_money(amount) if amount is not None else None,
            description=d.get("description"),
            br_code=d["brCode"],
            pix_key=d["pixKey"],
            expires_at=parse_time(d["expiresAt"]) if d.get("expiresAt") else None,
            created_at=parse_time(d["createdAt"]),
            payments=tuple(CashInPayment.from_json(p) for p in d["payments"]),
        )


@dataclass(frozen=True)
class RegisteredPixKey:
    """One of your own Pix keys, as DICT holds it (``PixKey`` is a cash-out destination)."""

    key_type: str  # EVP, EMAIL, PHONE, CPF or CNPJ
    key: str
    created_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RegisteredPixKey:
        return cls(d["type"], d["key"], parse_time(d["createdAt"]))
