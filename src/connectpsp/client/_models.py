"""What the SDK sends and returns: immutable, with ``Decimal`` amounts and aware datetimes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "AcceptedCashOut",
    "Amount",
    "Balance",
    "BankAccount",
    "CashOut",
    "DeliveryAttempt",
    "Failure",
    "Payee",
    "PixKey",
    "SecretRotation",
    "WebhookDelivery",
    "WebhookEndpoint",
]

_CENT = Decimal("0.01")
# The most the API accepts (R$ 10 000 000 000 000.00); it refuses anything larger.
MAX_CENTAVOS = 10**15
_MAX_ADJUSTED = 13  # the largest power of ten of an amount in reais (10**13 reais)
# A string amount in reais: ASCII digits, at most one point, no sign, exponent or spaces.
_REAIS_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


@dataclass(frozen=True)
class Amount:
    """An amount of money, held as integer centavos. Build one explicitly:
    ``Amount.from_centavos(5000)``, ``Amount.parse("50.00")`` or
    ``Amount.parse(Decimal("50.00"))``. Floats are refused; so is a third decimal place.

    ``centavos`` is always a real ``int`` (not a ``bool``, never a float): anything else
    raises ``TypeError``. It is greater than 0 and at most ``MAX_CENTAVOS``, or
    ``ValueError``."""

    centavos: int

    def __post_init__(self) -> None:
        centavos: object = self.centavos
        if isinstance(centavos, bool) or not isinstance(centavos, int):
            raise TypeError(f"centavos must be an int, not {type(centavos).__name__}: {centavos!r}")
        if centavos <= 0:
            raise ValueError(f"an amount must be greater than 0: {centavos!r} centavos")
        if centavos > MAX_CENTAVOS:
            raise ValueError(f"an amount is at most {MAX_CENTAVOS} centavos: {centavos!r}")

    @classmethod
    def from_centavos(cls, centavos: int) -> Amount:
        return cls(centavos)

    @classmethod
    def parse(cls, value: Amount | Decimal | str) -> Amount:
        if isinstance(value, Amount):
            return value
        if isinstance(value, float | int | bool):
            raise TypeError(
                "amounts are never floats or bare ints: pass reais as a Decimal or str "
                "('50.00'), or centavos as Amount.from_centavos(5000)"
            )
        if isinstance(value, str):
            if _REAIS_TEXT.fullmatch(value) is None:
                raise ValueError(f"not an amount in reais such as '50.00': {value!r}")
            number = Decimal(value)
        elif isinstance(value, Decimal):
            number = value
        else:
            raise TypeError(f"not an amount: {value!r}")
        if not number.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        if number <= 0:
            raise ValueError(f"an amount must be greater than 0: {value!r}")
        # Bounded before any arithmetic, so quantize and * 100 stay inside the decimal
        # context's precision (1e30 would need more digits than it has).
        if number.adjusted() > _MAX_ADJUSTED:
            raise ValueError(f"an amount is at most {MAX_CENTAVOS} centavos: {value!r}")
        try:
            exact = number.quantize(_CENT)
            if number != exact:
                raise ValueError(f"an amount has at most 2 decimal places: {value!r}")
            return cls(int(exact * 100))
        except ArithmeticError:  # decimal's own signals, such as InvalidOperation
            raise ValueError(f"not an amount: {value!r}") from None

    @property
    def decimal(self) -> Decimal:
        return (Decimal(self.centavos) / 100).quantize(_CENT)

    def __str__(self) -> str:
        return str(self.decimal)


@dataclass(frozen=True)
class PixKey:
    """A Pix key destination: key_type is CPF, CNPJ, EMAIL, PHONE or EVP."""

    key_type: str
    key: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "PIX", "pixKeyType": self.key_type, "pixKey": self.key}


@dataclass(frozen=True)
class BankAccount:
    """A bank-account destination: account_type is CHECKING, SAVINGS, PAYMENT or SALARY."""

    ispb: str
    branch: str
    account: str
    account_type: str

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "BANK_ACCOUNT",
            "bankAccount": {
                "ispb": self.ispb,
                "branch": self.branch,
                "account": self.account,
                "accountType": self.account_type,
            },
        }


@dataclass(frozen=True)
class BrCodeDestination:
    """A BR Code to pay (Pix copia e cola). What comes back also names the key it paid
    and its charge's txid."""

    br_code: str
    pix_key: str | None = None
    txid: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": "BRCODE", "brCode": self.br_code}


@dataclass(frozen=True)
class Payee:
    name: str
    document: str  # as sent: a CPF or CNPJ; masked in what comes back
    destination: PixKey | BankAccount | BrCodeDestination

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "document": self.document,
            "destination": self.destination.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Payee:
        d = data["destination"]
        destination: PixKey | BankAccount | BrCodeDestination
        if d["type"] == "BANK_ACCOUNT":
            b = d["bankAccount"]
            destination = BankAccount(b["ispb"], b["branch"], b["account"], b["accountType"])
        elif d["type"] == "BRCODE":
            destination = BrCodeDestination(d["brCode"], d.get("pixKey"), d.get("txid"))
        else:
            destination = PixKey(d["pixKeyType"], d["pixKey"])
        return cls(data["name"], data["document"], destination)


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


@dataclass(frozen=True)
class AcceptedCashOut:
    """The 202: accepted and queued for settlement, not yet paid."""

    transaction_id: str
    internal_code: str
    external_reference: str
    status: str
    requested_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AcceptedCashOut:
        return cls(
            d["transactionId"],
            d["internalCode"],
            d["externalReference"],
            d["status"],
            parse_time(d["requestedAt"]),
        )


@dataclass(frozen=True)
class CashOutReturn:
    """Money of a cash-out its payee's bank sent back; ``reason`` is MD06 (refund), BE08
    (bank error), FR01 (fraud) or SL02 (withdrawal)."""

    return_id: str
    amount: Decimal
    reason: str
    returned_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CashOutReturn:
        return cls(d["returnId"], _money(d["amount"]), d["reason"], parse_time(d["returnedAt"]))


@dataclass(frozen=True)
class CashOut:
    transaction_id: str
    internal_code: str
    external_reference: str
    status: str  # PROCESSING, COMPLETED or FAILED
    amount: Decimal
    fee_amount: Decimal
    final_amount: Decimal
    description: str | None
    payee: Payee
    end_to_end_id: str | None
    failure: Failure | None
    requested_at: datetime
    paid_at: datetime | None
    # What the payee's bank sent back (the cash-out stays COMPLETED).
    returned_amount: Decimal = Decimal(0)
    returns: tuple[CashOutReturn, ...] = ()

    @property
    def is_final(self) -> bool:
        return self.status in ("COMPLETED", "FAILED")

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CashOut:
        failure = d.get("failure")
        return cls(
            transaction_id=d["transactionId"],
            internal_code=d["internalCode"],
            external_reference=d["externalReference"],
            status=d["status"],
            amount=_money(d["amount"]),
            fee_amount=_money(d["feeAmount"]),
            final_amount=_money(d["finalAmount"]),
            description=d.get("description"),
            payee=Payee.from_json(d["payee"]),
            end_to_end_id=d.get("endToEndId"),
            failure=Failure(failure["code"], failure["message"]) if failure else None,
            requested_at=parse_time(d["requestedAt"]),
            paid_at=parse_time(d["paidAt"]) if d.get("paidAt") else None,
            returned_amount=_money(d.get("returnedAmount", 0)),
            returns=tuple(CashOutReturn.from_json(r) for r in d.get("returns", ())),
        )


@dataclass(frozen=True)
class Balance:
    available: Decimal
    reserved: Decimal
    total: Decimal
    blocked: Decimal = Decimal(0)  # held (a Pix from a payer marked for fraud)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Balance:
        return cls(
            _money(d["available"]),
            _money(d["reserved"]),
            _money(d["total"]),
            _money(d.get("blocked", 0)),
        )


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    url: str
    events: tuple[str, ...]
    status: str
    created_at: datetime
    secret: str | None = None  # only when just created

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WebhookEndpoint:
        return cls(
            d["id"],
            d["url"],
            tuple(d["events"]),
            d["status"],
            parse_time(d["createdAt"]),
            d.get("secret"),
        )


@dataclass(frozen=True)
class SecretRotation:
    endpoint_id: str
    secret: str
    previous_secret_expires_at: datetime


@dataclass(frozen=True)
class DeliveryAttempt:
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    response_body: str | None
    error: str | None


@dataclass(frozen=True)
class WebhookDelivery:
    id: str
    webhook_id: str
    event_type: str
    endpoint_id: str | None
    url: str
    status: str  # pending, succeeded or failed
    created_at: datetime
    next_attempt_at: datetime | None
    attempts: tuple[DeliveryAttempt, ...]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WebhookDelivery:
        return cls(
            d["id"],
            d["webhookId"],
            d["eventType"],
            d.get("endpointId"),
            d["url"],
            d["status"],
            parse_time(d["createdAt"]),
            parse_time(d["nextAttemptAt"]) if d.get("nextAttemptAt") else None,
            tuple(
                DeliveryAttempt(
                    parse_time(a["attemptedAt"]),
                    a.get("statusCode"),
                    a["latencyMs"],
                    a.get("responseBody"),
                    a.get("error"),
                )
                for a in d["attempts"]
            ),
        )


def _money(value: Any) -> Decimal:
    # The API's numbers arrive as Decimal (the SDK parses JSON with parse_float=Decimal).
    return Decimal(str(value)).quantize(_CENT)


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {value!r}")
    return moment
