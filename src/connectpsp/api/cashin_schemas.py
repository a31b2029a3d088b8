"""Cash-in's request and response shapes: charges, Pix keys, the sandbox payer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from connectpsp.api.schemas import Amount, Document, ExternalReference, WebhookUrl, _In, parse_body
from connectpsp.domain.cashin import (
    MAX_DESCRIPTION,
    MAX_EXPIRES_IN,
    ChargeRequest,
    ChargeStatus,
    ChargeType,
)
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.pix import PixKeyType

__all__ = [
    "ChargeBody",
    "ChargeIn",
    "PixKeyBody",
    "PixKeyIn",
    "SandboxPayIn",
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


class SandboxPayerIn(_In):
    name: str = Field(min_length=1, max_length=120)
    document: Document
    ispb: str = Field(description="8-digit ISPB of the payer's Pix participant")

    @field_validator("ispb")
    @classmethod
    def _known(cls, value: str, info: Any) -> str:
        directory = info.context.get("participants") if info.context else None
        if len(value) != 8 or not value.isdigit():
            raise ValueError("must be the 8-digit ISPB of a Pix participant")
        if isinstance(directory, ParticipantDirectory) and not directory.is_pix_participant(value):
            raise ValueError("is not a known Pix participant")
        return value


class SandboxPayIn(_In):
    """A Pix to pay in the sandbox: a BR Code, or a key and an amount."""

    br_code: str | None = Field(default=None, max_length=512)
    pix_key: str | None = Field(default=None, max_length=77)
    amount: Amount | None = Field(default=None, description="For a code without one, or a key")
    payer: SandboxPayerIn | None = None
    paid_at: AwareDatetime | None = Field(default=None, description="A past moment, for tests")

    @model_validator(mode="after")
    def _one_target(self) -> SandboxPayIn:
        if (self.br_code is None) == (self.pix_key is None):
            raise ValueError("must hold either brCode or pixKey, and not both")
        return self


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
