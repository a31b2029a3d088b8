"""The sandbox's request shapes: keys and fraud markers for the simulated DICT, and the
sandbox payer's Pix."""

from __future__ import annotations

from typing import Any

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectpsp.api.schemas import (
    Amount,
    BankAccountIn,
    Document,
    _In,
    _key_of_its_type,
    parse_body,
)
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.pix import PixKeyType
from connectpsp.domain.returns import ReturnReason
from connectpsp.domain.spi import ReasonCode
from connectpsp.service.security import FraudType, key_type_of

__all__ = ["DictKeyIn", "FraudMarkerIn", "ReturnIn", "SandboxPayIn", "parse_dict_key"]


class OwnerIn(_In):
    name: str = Field(min_length=1, max_length=120)
    document: Document


class DictKeyIn(_In):
    """A key for the sandbox DICT, and optionally the SPI reason its payments get."""

    key_type: PixKeyType
    key: str = Field(max_length=77)
    owner: OwnerIn
    account: BankAccountIn
    reject_with: ReasonCode | None = None

    @field_validator("key")
    @classmethod
    def _valid_key(cls, value: str, info: ValidationInfo) -> str:
        return _key_of_its_type(value, info, "key_type")


class FraudMarkerIn(_In):
    """A fraud marker for the sandbox DICT, on a key or on a document: exactly one."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"key": "scammer@sandbox.connectpsp.dev"}]}
    )

    key: str | None = Field(
        default=None,
        max_length=77,
        description="A Pix key of any type, as DICT holds it (its type is told by its form)",
    )
    document: Document | None = None
    type: FraudType = Field(
        default=FraudType.SCAMMER_ACCOUNT,
        description="UNKNOWN plays a marker from DICT v1, which had no types",
    )

    @field_validator("key")
    @classmethod
    def _valid_key(cls, value: str | None) -> str | None:
        if value is not None:
            key_type_of(value)  # raises with a message naming what is wrong
        return value

    @model_validator(mode="after")
    def _one_subject(self) -> FraudMarkerIn:
        if (self.key is None) == (self.document is None):
            raise ValueError("must hold either key or document, and not both")
        return self


def parse_dict_key(data: Any, participants: ParticipantDirectory) -> DictKeyIn:
    return parse_body(DictKeyIn, data, participants=participants)


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


class ReturnIn(_In):
    """A payee's bank sending back (part of) a cash-out."""

    amount: Amount
    reason: ReturnReason = Field(
        default=ReturnReason.MD06,
        description="MD06 (refund), BE08 (bank error), FR01 (fraud), SL02 (withdrawal)",
    )
