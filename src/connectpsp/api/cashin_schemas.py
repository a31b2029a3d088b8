"""Cash-in's request and response shapes: charges, Pix keys, the sandbox payer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from connectpsp.api.refund_schemas import RefundBody
from connectpsp.api.schemas import Amount, Document, ExternalReference, WebhookUrl, _In, parse_body
from connectpsp.domain.cashin import (
    MAX_DESCRIPTION,
    MAX_EXPIRES_IN,
    ChargeRequest,
    ChargeStatus,
    ChargeType,
)
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.pix import PixKeyType

__all__ = [
    "ChargeBody",
    "ChargeIn",
    "PixKeyBody",
    "PixKeyIn",
    "parse_charge",
]


class ChargePayerIn(_In):
    name: str = Field(min_length=1, max_length=120)
    document: Document


class ChargeIn(_In):
    type: ChargeType = ChargeType.DYNAMIC
    amount: Amount | None = Field(
        default=None,
        description="Required for DYNAMIC; a STATIC code without one lets the payer choose",
    )
    external_reference: ExternalReference
    description: str | None = Field(
        default=None, max_length=MAX_DESCRIPTION, description="Shown to the payer"
    )
    expires_in: int | None = Field(
        default=None,
        ge=1,
        le=MAX_EXPIRES_IN,
        description="Seconds; DYNAMIC only; 86400 (a day) by default",
    )
    payer: ChargePayerIn | None = Field(
        default=None, description="Who you expect to pay; for information"
    )
    webhook_url: WebhookUrl | None = None


def parse_charge(data: Any) -> ChargeRequest:
    body = parse_body(ChargeIn, data)
    if body.type is ChargeType.DYNAMIC and body.amount is None:
        raise ValidationFailed([FieldError("amount", "is required for a DYNAMIC charge")])
    if body.type is ChargeType.STATIC and body.expires_in is not None:
        raise ValidationFailed(
            [
                FieldError(
                    "expiresIn", "applies to DYNAMIC charges only: a STATIC code never expires"
                )
            ]
        )
    return ChargeRequest(
        type=body.type,
        amount=body.amount,
        external_reference=body.external_reference,
        description=body.description,
        expires_in=body.expires_in,
        payer_name=body.payer.name if body.payer else None,
        payer_document=body.payer.document if body.payer else None,
        webhook_url=body.webhook_url,
    )


class PixKeyIn(_In):
    type: PixKeyType
    key: str | None = Field(
        default=None, max_length=77, description="Absent for EVP: ConnectPSP makes the key"
    )


class PixKeyBody(BaseModel):
    key: str
    type: PixKeyType
    createdAt: AwareDatetime  # noqa: N815


class CashInPayerBody(BaseModel):
    name: str
    document: str
    bank: dict[str, str | None]


class PaymentBody(BaseModel):
    endToEndId: str  # noqa: N815
    amount: Decimal
    feeAmount: Decimal  # noqa: N815
    netAmount: Decimal  # noqa: N815
    paidAt: str  # noqa: N815
    payer: CashInPayerBody
    refunds: list[RefundBody]


class ChargeBody(BaseModel):
    transactionId: str  # noqa: N815
    internalCode: str  # noqa: N815
    txid: str
    externalReference: str  # noqa: N815
    type: ChargeType
    status: ChargeStatus
    amount: Decimal | None
    description: str | None
    brCode: str  # noqa: N815
    pixKey: str  # noqa: N815
    expiresAt: str | None  # noqa: N815
    createdAt: str  # noqa: N815
    payments: list[PaymentBody]
