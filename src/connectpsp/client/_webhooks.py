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
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectpsp.client import _fields as f
from connectpsp.client._charges import CashInPayer, Refund, RefundFailure
from connectpsp.client._events import (
    CashInCompleted,
    CashInExpired,
    CashInMovement,
    CashInRefundMovement,
    CashOutCompleted,
    CashOutFailed,
    CashOutMovement,
    CashOutReturned,
    CashOutReturnMovement,
    Counterpart,
    Event,
    RefundCompleted,
    RefundFailed,
)
from connectpsp.client._infractions import InfractionChanged, InfractionMovement, read_event
from connectpsp.client._models import Failure, Payee
from connectpsp.client.errors import WebhookVerificationError

__all__ = [
    "CashInCompleted",
    "CashInExpired",
    "CashInMovement",
    "CashInRefundMovement",
    "CashOutCompleted",
    "CashOutFailed",
    "CashOutMovement",
    "CashOutReturnMovement",
    "CashOutReturned",
    "Counterpart",
    "InfractionChanged",
    "InfractionMovement",
    "RefundCompleted",
    "RefundFailed",
    "WebhookVerificationError",
    "verify",
]

DEFAULT_TOLERANCE = timedelta(minutes=5)


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
        return _event(message_id, f.json_object(document))
    except (f.Malformed, ValueError, KeyError, TypeError) as error:
        raise WebhookVerificationError(f"malformed webhook body: {error}") from None


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


def _payee(d: dict[str, Any]) -> Payee:
    payee = f.json_object(d.get("payee"), "payee")
    f.text(payee, "name")
    f.text(payee, "document")
    f.json_object(payee.get("destination"), "payee.destination")
    return Payee.from_json(payee)


def _counterpart(d: dict[str, Any]) -> Counterpart:
    c = f.json_object(d.get("counterpart"), "counterpart")
    bank = f.json_object(c.get("bank") or {}, "counterpart.bank")
    return Counterpart(
        f.text(c, "name"),
        f.text(c, "document"),
        f.optional_text(bank, "bankISPB"),
        f.optional_text(bank, "bankName"),
        f.optional_text(bank, "bankCode"),
        f.optional_text(bank, "accountBranch"),
        f.optional_text(bank, "accountNumber"),
    )


def _cash_in_payer(d: dict[str, Any]) -> CashInPayer:
    payer = f.json_object(d.get("payer"), "payer")
    bank = f.json_object(payer.get("bank"), "payer.bank")
    return CashInPayer(
        f.text(payer, "name"),
        f.text(payer, "document"),
        f.text(bank, "ispb"),
        f.optional_text(bank, "name"),
        f.optional_text(bank, "code"),
    )


def _movement(message_id: str, d: dict[str, Any]) -> CashOutMovement | CashInMovement:
    status = f.text(d, "status")
    metadata = f.frozen(f.json_object(d.get("metadata") or {}, "metadata"))
    if d["event"] == "CashIn":
        if status != "CONFIRMED":
            raise f.Malformed(f"unknown cash-in movement status {status!r}")
        return CashInMovement(
            webhook_id=message_id,
            status=status,
            transaction_id=f.text(d, "transactionId"),
            external_id=f.optional_text(d, "externalId"),
            end_to_end_id=f.text(d, "endToEndId"),
            pix_key=f.optional_text(d, "pixKey"),
            fee_amount=f.money(d, "feeAmount"),
            original_amount=f.money(d, "originalAmount"),
            final_amount=f.money(d, "finalAmount"),
            processing_date=f.time(d, "processingDate"),
            counterpart=_counterpart(d),
            metadata=metadata,
        )
    if status not in ("CONFIRMED", "ERROR"):
        raise f.Malformed(f"unknown movement status {status!r}")
    return CashOutMovement(
        webhook_id=message_id,
        status=status,
        transaction_id=f.text(d, "transactionId"),
        external_id=f.text(d, "externalId"),
        end_to_end_id=f.optional_text(d, "endToEndId"),
        pix_key=f.optional_text(d, "pixKey"),
        fee_amount=f.money(d, "feeAmount"),
        original_amount=f.money(d, "originalAmount"),
        final_amount=f.money(d, "finalAmount"),
        processing_date=f.time(d, "processingDate"),
        error_code=f.optional_text(d, "errorCode"),
        error_message=f.optional_text(d, "errorMessage"),
        counterpart=_counterpart(d),
        metadata=metadata,
    )


def _cash_in_event(
    message_id: str, event_type: str, event_at: datetime, data: dict[str, Any]
) -> CashInCompleted | CashInExpired:
    if event_type == "CASHIN_EXPIRED":
        return CashInExpired(
            webhook_id=message_id,
            event_at=event_at,
            transaction_id=f.text(data, "transactionId"),
            internal_code=f.text(data, "internalCode"),
            txid=f.text(data, "txid"),
            external_reference=f.text(data, "externalReference"),
            status=f.text(data, "status"),
            amount=f.money(data, "amount"),
            expires_at=f.time(data, "expiresAt"),
        )
    return CashInCompleted(
        webhook_id=message_id,
        event_at=event_at,
        transaction_id=f.text(data, "transactionId"),
        internal_code=f.optional_text(data, "internalCode"),
        txid=f.optional_text(data, "txid"),
        external_reference=f.optional_text(data, "externalReference"),
        status=f.text(data, "status"),
        amount=f.money(data, "amount"),
        fee_amount=f.money(data, "feeAmount"),
        net_amount=f.money(data, "netAmount"),
        end_to_end_id=f.text(data, "endToEndId"),
        paid_at=f.time(data, "paidAt"),
        payer=_cash_in_payer(data),
    )


def _returned(message_id: str, event_at: datetime, data: dict[str, Any]) -> CashOutReturned:
    back = f.json_object(data.get("return"), "data.return")
    return CashOutReturned(
        webhook_id=message_id,
        event_at=event_at,
        internal_code=f.text(data, "internalCode"),
        external_reference=f.text(data, "externalReference"),
        end_to_end_id=f.optional_text(data, "endToEndId"),
        status=f.text(data, "status"),
        amount=f.money(data, "amount"),
        returned_amount=f.money(data, "returnedAmount"),
        return_id=f.text(back, "returnId"),
        return_amount=f.money(back, "amount"),
        reason=f.text(back, "reason"),
        returned_at=f.time(back, "returnedAt"),
    )


def _return_movement(message_id: str, d: dict[str, Any]) -> CashOutReturnMovement:
    if f.text(d, "status") != "CONFIRMED":
        raise f.Malformed("a return's movement is CONFIRMED")
    metadata = f.json_object(d.get("metadata") or {}, "metadata")
    return CashOutReturnMovement(
        webhook_id=message_id,
        transaction_id=f.text(d, "transactionId"),
        external_id=f.text(d, "externalId"),
        end_to_end_id=f.text(d, "endToEndId"),
        original_end_to_end_id=f.optional_text(d, "originalEndToEndId"),
        final_amount=f.money(d, "finalAmount"),
        processing_date=f.time(d, "processingDate"),
        reason=f.optional_text(metadata, "reason"),
        counterpart=_counterpart(d),
    )


def _refunded(
    message_id: str, event_type: str, event_at: datetime, data: dict[str, Any]
) -> RefundCompleted | RefundFailed:
    """REFUND_COMPLETED or REFUND_FAILED: ``data`` is the refund, final, as GET shows it."""
    completed = event_type == "REFUND_COMPLETED"
    status = f.text(data, "status")
    if status != ("COMPLETED" if completed else "FAILED"):
        raise f.Malformed(f"{event_type} of a refund {status!r}")
    failure = None
    if not completed:
        d = f.json_object(data.get("failure"), "data.failure")
        failure = RefundFailure(
            f.text(d, "code"), f.text(d, "message"), f.optional_text(d, "reason")
        )
    refund = Refund(
        refund_id=f.text(data, "refundId"),
        return_id=f.text(data, "returnId"),
        internal_code=f.optional_text(data, "internalCode"),
        end_to_end_id=f.text(data, "endToEndId"),
        amount=f.money(data, "amount"),
        reason=f.text(data, "reason"),
        description=f.optional_text(data, "description"),
        status=status,
        requested_at=f.time(data, "requestedAt"),
        completed_at=f.time(data, "completedAt"),
        failure=failure,
    )
    if completed:
        return RefundCompleted(message_id, event_at, refund)
    return RefundFailed(message_id, event_at, refund)


def _refund_movement(message_id: str, d: dict[str, Any]) -> CashInRefundMovement:
    status = f.text(d, "status")
    if status not in ("CONFIRMED", "ERROR"):
        raise f.Malformed(f"unknown refund movement status {status!r}")
    metadata = f.json_object(d.get("metadata") or {}, "metadata")
    return CashInRefundMovement(
        webhook_id=message_id,
        status=status,
        transaction_id=f.text(d, "transactionId"),
        end_to_end_id=f.text(d, "endToEndId"),
        original_end_to_end_id=f.text(d, "originalEndToEndId"),
        final_amount=f.money(d, "finalAmount"),
        processing_date=f.time(d, "processingDate"),
        error_code=f.optional_text(d, "errorCode"),
        error_message=f.optional_text(d, "errorMessage"),
        reason=f.optional_text(metadata, "reason"),
        internal_code=f.optional_text(metadata, "internalCode"),
        counterpart=_counterpart(d),
    )


def _event(message_id: str, d: dict[str, Any]) -> Event:
    try:
        med = read_event(message_id, d)
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        raise f.Malformed(f"a MED event without what it must hold: {error}") from None
    if med is not None:
        return med
    if d.get("event") in ("CashOut", "CashIn"):
        return _movement(message_id, d)
    if d.get("event") == "CashOutReturn":
        return _return_movement(message_id, d)
    if d.get("event") == "CashInRefund":
        return _refund_movement(message_id, d)
    event_type = d.get("eventType")
    if event_type not in (
        "CASHOUT_COMPLETED",
        "CASHOUT_FAILED",
        "CASHOUT_RETURNED",
        *_CASH_IN_EVENTS,
        *_REFUND_EVENTS,
    ):
        raise f.Malformed(f"unknown event {event_type!r}")
    data = f.json_object(d.get("data"), "data")
    event_at = f.time(d, "eventAt")
    if event_type in _CASH_IN_EVENTS:
        return _cash_in_event(message_id, event_type, event_at, data)
    if event_type == "CASHOUT_RETURNED":
        return _returned(message_id, event_at, data)
    if event_type in _REFUND_EVENTS:
        return _refunded(message_id, event_type, event_at, data)
    internal_code = f.text(data, "internalCode")
    external_reference = f.text(data, "externalReference")
    amount = f.money(data, "amount")
    payee = _payee(data)
    requested_at = f.time(data, "requestedAt")
    if event_type == "CASHOUT_COMPLETED":
        return CashOutCompleted(
            webhook_id=message_id,
            event_at=event_at,
            internal_code=internal_code,
            external_reference=external_reference,
            end_to_end_id=f.text(data, "endToEndId"),
            amount=amount,
            payee=payee,
            requested_at=requested_at,
            paid_at=f.time(data, "paidAt"),
        )
    failure = f.json_object(data.get("failure"), "data.failure")
    return CashOutFailed(
        webhook_id=message_id,
        event_at=event_at,
        internal_code=internal_code,
        external_reference=external_reference,
        amount=amount,
        payee=payee,
        failure=Failure(f.text(failure, "code"), f.text(failure, "message")),
        requested_at=requested_at,
    )


_CASH_IN_EVENTS = ("CASHIN_COMPLETED", "CASHIN_EXPIRED")
_REFUND_EVENTS = ("REFUND_COMPLETED", "REFUND_FAILED")
