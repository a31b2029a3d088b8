"""Refunds' request and response shapes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from connectpsp.api.schemas import Amount, _In, parse_body
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.refunds import MAX_DESCRIPTION, RefundReason, RefundRequest, RefundStatus

__all__ = ["RefundBody", "RefundIn", "parse_refund"]

# BCB's endToEndId: E + ISPB (8 digits) + yyyyMMddHHmm + 11 alphanumerics.
END_TO_END_PATTERN = r"^E[0-9]{8}[0-9]{12}[a-zA-Z0-9]{11}$"


class RefundIn(_In):
    end_to_end_id: str | None = Field(
        default=None,
        pattern=END_TO_END_PATTERN,
        description="The payment to refund; optional when the charge has exactly one",
    )
    amount: Amount
    reason: Literal["ORIGINAL", "WITHDRAWAL"] = Field(
        default="ORIGINAL",
        description="ORIGINAL (SPI code MD06) or WITHDRAWAL (SL02, the cash of a Pix Saque/Troco)",
    )
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)


def parse_refund(internal_code: str | None, data: Any) -> RefundRequest:
    """A refund of a charge's payment, or (``internal_code`` None) of the Pix that the
    body's ``endToEndId`` names, which is then required."""
    body = parse_body(RefundIn, data)
    if internal_code is None and body.end_to_end_id is None:
        raise ValidationFailed([FieldError("endToEndId", "is required")])
    return RefundRequest(
        internal_code=internal_code,
        amount=body.amount,
        end_to_end_id=body.end_to_end_id,
        reason=RefundReason(body.reason),
        description=body.description,
    )


class RefundFailureBody(BaseModel):
    code: str
    message: str
    reason: str | None


class RefundBody(BaseModel):
    refundId: str  # noqa: N815
    returnId: str  # noqa: N815
    internalCode: str | None  # noqa: N815
    endToEndId: str  # noqa: N815
    amount: Decimal
    reason: RefundReason
    description: str | None
    status: RefundStatus
    requestedAt: str  # noqa: N815
    completedAt: str | None  # noqa: N815
    failure: RefundFailureBody | None
