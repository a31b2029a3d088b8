"""Verify a ConnectPSP webhook and read it as a typed event.

The public path is ``connectpsp.webhooks`` (``from connectpsp import webhooks``), which
re-exports this module's public names; see its docstring for the usage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from types import MappingProxyType
from typing import Any

from connectpsp.client._models import Failure, Payee, parse_time
from connectpsp.client.errors import WebhookVerificationError

__all__ = [
    "CashOutCompleted",
    "CashOutFailed",
    "CashOutMovement",
    "Counterpart",
    "WebhookVerificationError",
    "verify",
]

DEFAULT_TOLERANCE = timedelta(minutes=5)
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class CashOutCompleted:
    """Seed 000's CASHOUT_COMPLETED, sent to the cash-out's own webhookUrl."""

    webhook_id: str
    event_at: datetime
    internal_code: str
    external_reference: str
    end_to_end_id: str
    amount: Decimal
    payee: Payee
    requested_at: datetime
    paid_at: datetime


@dataclass(frozen=True)
class CashOutFailed:
    """Seed 000's CASHOUT_FAILED. The reserved funds are already available again."""

    webhook_id: str
    event_at: datetime
    internal_code: str
    external_reference: str
    amount: Decimal
    payee: Payee
    failure: Failure
    requested_at: datetime


@dataclass(frozen=True)
class Counterpart:
    name: str
    document: str  # masked: ***.456.789-**
    bank_ispb: str | None
    bank_name: str | None
    bank_code: str | None
    account_branch: str | None
    account_number: str | None


@dataclass(frozen=True)
class CashOutMovement:
    """Seed 004's account movement ``CashOut`` (DEBIT), to registered endpoints.
    ``status`` is CONFIRMED, or ERROR (then nothing was debited)."""

    webhook_id: str
    status: str
    transaction_id: str
    external_id: str
    end_to_end_id: str | None
    pix_key: str | None
    fee_amount: Decimal
    original_amount: Decimal
    final_amount: Decimal
    processing_date: datetime
    error_code: str | None
    error_message: str | None
    counterpart: Counterpart
    metadata: Mapping[str, Any]  # read-only (a MappingProxyType; arrays are tuples)

    @property
    def confirmed(self) -> bool:
        return self.status == "CONFIRMED"


Event = CashOutCompleted | CashOutFailed | CashOutMovement


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | Sequence[str],
    *,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    now: datetime | None = None,
) -> Event:
    """Check the Standard Webhooks signature and timestamp, then parse the event."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (message_id and timestamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise ValueError(timestamp)
        sent_at = datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookVerificationError("webhook-timestamp is not a Unix time") from None
    if abs((now or datetime.now(UTC)) - sent_at) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old or too new")
    signed = f"{message_id}.{timestamp}.".encode() + body
    secrets = [secret] if isinstance(secret, str) else list(secret)
    expected = [hmac.new(_key(s), signed, hashlib.sha256).digest() for s in secrets]
    if not any(
        hmac.compare_digest(mac, _signature(candidate))
        for candidate in signatures.split(" ")
        for mac in expected
    ):
        raise WebhookVerificationError("no signature matches")
    try:
        document = json.loads(body, parse_float=Decimal)
    except ValueError:  # not UTF-8, or not JSON
        raise WebhookVerificationError("malformed webhook body: not JSON") from None
    try:
        return _event(message_id, _object(document))
    except (_Malformed, ValueError, KeyError, TypeError) as error:
        raise WebhookVerificationError(f"malformed webhook body: {error}") from None


class _Malformed(Exception):
    """A signed body that is not one of the events (caught by ``verify``)."""


def _key(secret: str) -> bytes:
    text = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise WebhookVerificationError("the secret is not a whsec_ base64 secret") from None


def _signature(versioned: str) -> bytes:
    version, _, value = versioned.partition(",")
    if version != "v1":
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return b""


def _object(value: Any, name: str = "the body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{name} is not a JSON object")
    return value


def _text(d: dict[str, Any], name: str) -> str:
    value = d.get(name)
    if not isinstance(value, str):
        raise _Malformed(f"{name} is missing or not a string")
    return value


def _optional_text(d: dict[str, Any], name: str) -> str | None:
    value = d.get(name)
    if value is not None and not isinstance(value, str):
        raise _Malformed(f"{name} is not a string")
    return value


def _money(d: dict[str, Any], name: str) -> Decimal:
    """A JSON number with at most two decimal places, as the seeds send amounts."""
    value = d.get(name)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _Malformed(f"{name} is missing or not a number")
    amount = Decimal(value)
    try:
        cents = amount.quantize(_CENT, rounding=ROUND_DOWN)  # NaN, ±inf, 1e999: Invalid
    except ArithmeticError:
        cents = None
    if cents is None or not cents.is_finite() or cents != amount:
        raise _Malformed(f"{name} is not an amount with at most two decimal places")
    return cents


def _time(d: dict[str, Any], name: str) -> datetime:
    return parse_time(_text(d, name))  # ValueError when it has no zone


def _frozen(value: Any) -> Any:
    """JSON made read-only: objects become mappingproxies, arrays tuples."""
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _payee(d: dict[str, Any]) -> Payee:
    payee = _object(d.get("payee"), "payee")
    _text(payee, "name")
    _text(payee, "document")
    _object(payee.get("destination"), "payee.destination")
    return Payee.from_json(payee)


def _event(message_id: str, d: dict[str, Any]) -> Event:
    if d.get("event") == "CashOut":
        status = _text(d, "status")
        if status not in ("CONFIRMED", "ERROR"):
            raise _Malformed(f"unknown movement status {status!r}")
        c = _object(d.get("counterpart"), "counterpart")
        bank = _object(c.get("bank") or {}, "counterpart.bank")
        metadata = d.get("metadata") or {}
        return CashOutMovement(
            webhook_id=message_id,
            status=status,
            transaction_id=_text(d, "transactionId"),
            external_id=_text(d, "externalId"),
            end_to_end_id=_optional_text(d, "endToEndId"),
            pix_key=_optional_text(d, "pixKey"),
            fee_amount=_money(d, "feeAmount"),
            original_amount=_money(d, "originalAmount"),
            final_amount=_money(d, "finalAmount"),
            processing_date=_time(d, "processingDate"),
            error_code=_optional_text(d, "errorCode"),
            error_message=_optional_text(d, "errorMessage"),
            counterpart=Counterpart(
                _text(c, "name"),
                _text(c, "document"),
                _optional_text(bank, "bankISPB"),
                _optional_text(bank, "bankName"),
                _optional_text(bank, "bankCode"),
                _optional_text(bank, "accountBranch"),
                _optional_text(bank, "accountNumber"),
            ),
            metadata=_frozen(_object(metadata, "metadata")),
        )
    event_type = d.get("eventType")
    if event_type not in ("CASHOUT_COMPLETED", "CASHOUT_FAILED"):
        raise _Malformed(f"unknown event {event_type!r}")
    data = _object(d.get("data"), "data")
    event_at = _time(d, "eventAt")
    internal_code = _text(data, "internalCode")
    external_reference = _text(data, "externalReference")
    amount = _money(data, "amount")
    payee = _payee(data)
    requested_at = _time(data, "requestedAt")
    if event_type == "CASHOUT_COMPLETED":
        return CashOutCompleted(
            webhook_id=message_id,
            event_at=event_at,
            internal_code=internal_code,
            external_reference=external_reference,
            end_to_end_id=_text(data, "endToEndId"),
            amount=amount,
            payee=payee,
            requested_at=requested_at,
            paid_at=_time(data, "paidAt"),
        )
    failure = _object(data.get("failure"), "data.failure")
    return CashOutFailed(
        webhook_id=message_id,
        event_at=event_at,
        internal_code=internal_code,
        external_reference=external_reference,
        amount=amount,
        payee=payee,
        failure=Failure(_text(failure, "code"), _text(failure, "message")),
        requested_at=requested_at,
    )
