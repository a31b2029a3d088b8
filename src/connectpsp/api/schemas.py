"""Request and response shapes, exactly as the seed tutorial writes them. Field names are
camelCase on the wire (aliases) and snake_case in Python."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel

from connectpsp.domain.documents import document_type
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.money import format_brl, parse_amount
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.pix import AccountType, PixKeyType, validate_pix_key
from connectpsp.domain.webhooks import is_http_url

__all__ = [
    "AcceptedBody",
    "BalanceBody",
    "BrCodeBody",
    "BrCodeIn",
    "CashOutBody",
    "CashOutIn",
    "ErrorBody",
    "ReplayIn",
    "TokenIn",
    "TokenOut",
    "WebhookIn",
    "parse_body",
    "parse_token_request",
]

_REFERENCE_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


class _In(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=False, frozen=True
    )


Amount = Annotated[
    int,
    BeforeValidator(parse_amount),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01},
                {"type": "string", "pattern": r"^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$"},
            ],
            "description": "Reais, at most 2 decimal places; 50.005 is rejected, not rounded.",
            "examples": [50.00],
        }
    ),
]


def _document(value: str) -> str:
    document_type(value)  # raises with a message naming what is wrong
    return value


Document = Annotated[
    str,
    AfterValidator(_document),
    Field(description="CPF (11 digits) or CNPJ (14 characters), no punctuation"),
]


def check_reference(value: str) -> str:
    if not 1 <= len(value) <= 64 or not set(value) <= _REFERENCE_CHARS:
        raise ValueError("must be 1 to 64 characters of letters, digits, '.', '_', ':' or '-'")
    return value


ExternalReference = Annotated[
    str,
    AfterValidator(check_reference),
    Field(description="Your own id, unique per client: 1-64 of [A-Za-z0-9._:-]"),
]


def _http_url(value: str) -> str:
    if not is_http_url(value):
        raise ValueError("must be an absolute http or https URL")
    return value


WebhookUrl = Annotated[str, Field(max_length=2048), AfterValidator(_http_url)]


def _key_of_its_type(value: str, info: ValidationInfo, type_field: str) -> str:
    """A Pix key checked by the rules of the key type given before it in the body."""
    key_type = info.data.get(type_field)
    if key_type is not None:
        validate_pix_key(key_type, value)
    return value


class PixDestinationIn(_In):
    type: Literal["PIX"]
    pix_key_type: PixKeyType
    pix_key: str = Field(max_length=77)

    @field_validator("pix_key")
    @classmethod
    def _valid_key(cls, value: str, info: ValidationInfo) -> str:
        return _key_of_its_type(value, info, "pix_key_type")


class BankAccountIn(_In):
    ispb: str = Field(description="8-character ISPB of a Pix participant", examples=["18236120"])
    branch: str = Field(pattern=r"^[0-9]{1,4}$", examples=["0001"])
    account: str = Field(pattern=r"^[0-9]{1,20}$", examples=["947710840"])
    account_type: AccountType

    @field_validator("ispb")
    @classmethod
    def _known_participant(cls, value: str, info: ValidationInfo) -> str:
        if len(value) != 8 or not value.isdigit():
            raise ValueError("must be the 8-digit ISPB of a Pix participant")
        directory = info.context.get("participants") if info.context else None
        if isinstance(directory, ParticipantDirectory) and not directory.is_pix_participant(value):
            raise ValueError("is not a known Pix participant")
        return value


class BankAccountDestinationIn(_In):
    type: Literal["BANK_ACCOUNT"]
    bank_account: BankAccountIn


class BrCodeDestinationIn(_In):
    """A BR Code to pay (Pix copia e cola): its key, txid and, for a dynamic code, its
    charge are read from it."""

    type: Literal["BRCODE"]
    br_code: str = Field(min_length=1, max_length=512)


class PayeeIn(_In):
    name: str = Field(min_length=1, max_length=120)
    document: Document
    destination: Annotated[
        PixDestinationIn | BankAccountDestinationIn | BrCodeDestinationIn,
        Field(discriminator="type"),
    ]

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class CashOutIn(_In):
    amount: Amount
    external_reference: ExternalReference
    description: str | None = Field(default=None, max_length=140)
    webhook_url: WebhookUrl | None = None
    payee: PayeeIn

    @field_validator("amount")
    @classmethod
    def _within_limit(cls, value: int, info: ValidationInfo) -> int:
        # Checked with the other fields, so one answer names every bad field.
        limit = (info.context or {}).get("per_transaction_limit")
        if limit is not None and value > limit:
            raise ValueError(f"must not exceed the per-transaction limit of {format_brl(limit)}")
        return value


class WebhookIn(_In):
    url: str = Field(max_length=2048, examples=["https://example.com/webhooks/connectpsp"])
    events: list[str] | None = Field(
        default=None,
        description=(
            "Any of CASHOUT_COMPLETED, CASHOUT_FAILED, CASHIN_COMPLETED, CASHOUT_RETURNED;"
            " all by default"
        ),
    )


class ReplayIn(_In):
    since: AwareDatetime
    until: AwareDatetime


class BrCodeIn(_In):
    br_code: str = Field(max_length=512, description="The Pix copia e cola text")


class TokenIn(_In):
    client_id: str = Field(min_length=1, max_length=100)
    client_secret: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    accessToken: str  # noqa: N815 - wire name
    tokenType: Literal["Bearer"]  # noqa: N815
    expiresIn: int  # noqa: N815


class AcceptedBody(BaseModel):
    transactionId: str  # noqa: N815
    internalCode: str  # noqa: N815
    externalReference: str  # noqa: N815
    status: Literal["PROCESSING"]
    requestedAt: str  # noqa: N815


# Amounts go out as JSON numbers with two places (50.00), not as strings.
Money = Annotated[Decimal, WithJsonSchema({"type": "number", "examples": [50.0]})]


class FailureBody(BaseModel):
    code: str
    message: str


class CashOutBody(BaseModel):
    transactionId: str  # noqa: N815
    internalCode: str  # noqa: N815
    externalReference: str  # noqa: N815
    status: Literal["PROCESSING", "COMPLETED", "FAILED"]
    amount: Money
    feeAmount: Money  # noqa: N815
    finalAmount: Money  # noqa: N815
    description: str | None
    payee: dict[str, Any]
    endToEndId: str | None  # noqa: N815
    failure: FailureBody | None
    requestedAt: str  # noqa: N815
    paidAt: str | None  # noqa: N815
    returnedAmount: Money  # noqa: N815
    returns: list[dict[str, Any]]


class BalanceBody(BaseModel):
    available: Money
    reserved: Money
    blocked: Money
    total: Money


class BrCodeBody(BaseModel):
    type: Literal["STATIC", "DYNAMIC"]
    pixKey: str | None  # noqa: N815
    url: str | None = Field(description="A dynamic code's location, without scheme")
    amount: Money | None
    merchantName: str  # noqa: N815
    merchantCity: str  # noqa: N815
    txid: str = Field(description="*** when the code carries none")
    description: str | None


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def _field_errors(error: ValidationError) -> list[FieldError]:
    found = []
    for err in error.errors():
        # Drop the discriminator tag pydantic puts in union paths (destination.PIX.pixKey).
        path = [str(p) for p in err["loc"] if p not in ("PIX", "BANK_ACCOUNT", "BRCODE")]
        kind = err["type"]
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = "is not a recognised field"
        elif kind == "value_error":
            message = str(err.get("ctx", {}).get("error", err["msg"]))
        elif kind == "union_tag_invalid":
            message = "type must be 'PIX', 'BANK_ACCOUNT' or 'BRCODE'"
        elif kind == "union_tag_not_found":
            message = "type is required: 'PIX', 'BANK_ACCOUNT' or 'BRCODE'"
            path = [*path, "type"]
        else:
            message = err["msg"]
        found.append(FieldError(".".join(path) or "body", message))
    return found


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], data: Any, **context: Any) -> M:
    """Validate a decoded JSON body; every bad field becomes a VALIDATION_ERROR detail."""
    try:
        return model.model_validate(data, context=context or None)
    except ValidationError as error:
        raise ValidationFailed(_field_errors(error)) from None


def parse_token_request(data: Any) -> TokenIn:
    return parse_body(TokenIn, data)
