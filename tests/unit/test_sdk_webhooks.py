"""``connectpsp.webhooks.verify``: what it accepts (both seed shapes, for cash-outs and
cash-ins, rotated secrets, payloads the server itself rendered and signed) and everything
it must refuse with ``WebhookVerificationError`` and nothing else."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectpsp import (
    BankAccount,
    CashInPayer,
    Failure,
    PixKey,
    WebhookVerificationError,
    webhooks,
)
from connectpsp.webhooks import (
    CashInCompleted,
    CashInExpired,
    CashInMovement,
    CashOutCompleted,
    CashOutFailed,
    CashOutMovement,
    verify,
)

NOW = datetime(2026, 3, 10, 17, 2, 40, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"s" * 24).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 24).decode()

# The seeds' shapes, field for field (docs/webhooks.md; issue 4).
COMPLETED: dict[str, Any] = {
    "eventType": "CASHOUT_COMPLETED",
    "eventAt": "2026-03-10T17:02:35Z",
    "data": {
        "internalCode": "IVKPRMOCDY",
        "externalReference": "withdrawal-user-42-001",
        "endToEndId": "E00416968202603101702cemeFscF6AG",
        "status": "COMPLETED",
        "amount": Decimal("50.00"),
        "payee": {
            "name": "Maria Silva",
            "document": "***.456.789-**",
            "destination": {"type": "PIX", "pixKeyType": "CPF", "pixKey": "12345678909"},
        },
        "requestedAt": "2026-03-10T14:00:00-03:00",
        "paidAt": "2026-03-10T14:02:30-03:00",
    },
}
FAILED: dict[str, Any] = {
    "eventType": "CASHOUT_FAILED",
    "eventAt": "2026-03-10T17:02:35Z",
    "data": {
        "internalCode": "QWERTYUIOP",
        "externalReference": "withdrawal-user-42-002",
        "endToEndId": None,
        "status": "FAILED",
        "amount": Decimal("12.34"),
        "payee": {
            "name": "Maria Silva",
            "document": "***.456.789-**",
            "destination": {
                "type": "BANK_ACCOUNT",
                "bankAccount": {
                    "ispb": "18236120",
                    "branch": "0001",
                    "account": "947710840",
                    "accountType": "PAYMENT",
                },
            },
        },
        "requestedAt": "2026-03-10T14:00:00-03:00",
        "paidAt": None,
        "failure": {"code": "AC06", "message": "The destination account is blocked."},
    },
}
CONFIRMED: dict[str, Any] = {
    "event": "CashOut",
    "status": "CONFIRMED",
    "transactionType": "PIX",
    "movementType": "DEBIT",
    "transactionId": "4ac6204e-7c82-47a8-9aea-7fbb6fde72db",
    "externalId": "PIX-OUT-5483571657-OWUJDUDVDO",
    "endToEndId": "E00416968202512112006P1T3N1CS1Ab",
    "pixKey": "maria.silva@example.com",
    "feeAmount": Decimal("0.01"),
    "originalAmount": Decimal("0.30"),
    "finalAmount": Decimal("0.31"),
    "processingDate": "2025-12-11T20:06:12.117Z",
    "errorCode": None,
    "errorMessage": None,
    "counterpart": {
        "name": "Maria Silva",
        "document": "***.456.789-**",
        "bank": {
            "bankISPB": "18236120",
            "bankName": "NU PAGAMENTOS - IP",
            "bankCode": "260",
            "accountBranch": "0001",
            "accountNumber": "947710840",
        },
    },
    "metadata": {"campaign": {"tags": ["a", "b"]}},
}
ERROR: dict[str, Any] = {
    **CONFIRMED,
    "status": "ERROR",
    "endToEndId": None,
    "errorCode": "AC06",
    "errorMessage": "The destination account is blocked.",
    "counterpart": {
        "name": "Ana Costa",
        "document": "***.765.432-**",
        "bank": {
            "bankISPB": None,
            "bankName": None,
            "bankCode": None,
            "accountBranch": None,
            "accountNumber": None,
        },
    },
    "metadata": {},
}

# A cash-in's, as domain/cashin_payloads.py renders them (issue 15).
SANDBOX_PAYER = {
    "name": "Pagador Sandbox",
    "document": "***.982.247-**",
    "bank": {"ispb": "60701190", "name": "ITAÚ UNIBANCO S.A.", "code": "341"},
}
CASHIN_COMPLETED: dict[str, Any] = {
    "eventType": "CASHIN_COMPLETED",
    "eventAt": "2026-03-10T17:02:35Z",
    "data": {
        "transactionId": "0b7f0c5e-2a43-4f4e-9a37-1c1f4a3f9d11",
        "internalCode": "QRCODEABCD",
        "txid": "k3J9x0aQ2mZ7pL4tR8vW1yB6cD5eF",
        "externalReference": "order-42",
        "status": "COMPLETED",
        "amount": Decimal("50.00"),
        "feeAmount": Decimal("0.70"),
        "netAmount": Decimal("49.30"),
        "endToEndId": "E6070119020260310170230abcdEFGH1",
        "paidAt": "2026-03-10T14:02:30-03:00",
        "payer": SANDBOX_PAYER,
    },
}
CASHIN_EXPIRED: dict[str, Any] = {
    "eventType": "CASHIN_EXPIRED",
    "eventAt": "2026-03-11T17:00:01Z",
    "data": {
        "transactionId": "0b7f0c5e-2a43-4f4e-9a37-1c1f4a3f9d11",
        "internalCode": "QRCODEABCD",
        "txid": "k3J9x0aQ2mZ7pL4tR8vW1yB6cD5eF",
        "externalReference": "order-42",
        "status": "EXPIRED",
        "amount": Decimal("50.00"),
        "expiresAt": "2026-03-11T14:00:00-03:00",
    },
}
CASHIN_MOVEMENT: dict[str, Any] = {
    "event": "CashIn",
    "status": "CONFIRMED",
    "transactionType": "PIX",
    "movementType": "CREDIT",
    "transactionId": "0b7f0c5e-2a43-4f4e-9a37-1c1f4a3f9d11",
    "externalId": "order-42",
    "endToEndId": "E6070119020260310170230abcdEFGH1",
    "pixKey": "5f1c7a2e-8d4b-4c39-9e0a-6b2d3f4e5a61",
    "feeAmount": Decimal("0.70"),
    "originalAmount": Decimal("50.00"),
    "finalAmount": Decimal("49.30"),
    "processingDate": "2026-03-10T17:02:30.000Z",
    "errorCode": None,
    "errorMessage": None,
    "counterpart": {
        "name": "Pagador Sandbox",
        "document": "***.982.247-**",
        "bank": {"bankISPB": "60701190", "bankName": "ITAÚ UNIBANCO S.A.", "bankCode": "341"},
    },
    "metadata": {},
}


def dumps(payload: Any) -> bytes:
    """JSON with Decimal amounts written as numbers with their places (50.00), as the
    seeds and the server write them."""
    text = json.dumps(payload, default=lambda value: f"<decimal>{value}</decimal>")
    return re.sub(r'"<decimal>(.*?)</decimal>"', r"\1", text).encode()


def signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def headers_for(
    body: bytes, *secrets: str, at: datetime = NOW, message_id: str = "msg_1"
) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    return {
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": " ".join(
            signature(s, message_id, timestamp, body) for s in (secrets or (SECRET,))
        ),
    }


def verified(payload: Any, **kw: Any) -> webhooks.Event:
    body = dumps(payload)
    return verify(body, headers_for(body), SECRET, now=NOW, **kw)


def refused(body: bytes, headers: dict[str, str], secret: Any = SECRET) -> str:
    with pytest.raises(WebhookVerificationError) as raised:
        verify(body, headers, secret, now=NOW)
    assert raised.value.code == "WEBHOOK_VERIFICATION_FAILED"
    return raised.value.message


# what verify reads ----------------------------------------------------------------------


def test_seed_000_completed_is_read_field_for_field() -> None:
    event = verified(COMPLETED)
    assert isinstance(event, CashOutCompleted)
    assert event.webhook_id == "msg_1"
    assert event.event_at == datetime(2026, 3, 10, 17, 2, 35, tzinfo=UTC)
    assert (event.internal_code, event.external_reference, event.end_to_end_id) == (
        "IVKPRMOCDY",
        "withdrawal-user-42-001",
        "E00416968202603101702cemeFscF6AG",
    )
    assert event.amount == Decimal("50.00") and str(event.amount) == "50.00"
    assert event.payee.document == "***.456.789-**"
    assert event.payee.destination == PixKey("CPF", "12345678909")
    assert event.requested_at == datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
    assert event.paid_at == datetime(2026, 3, 10, 17, 2, 30, tzinfo=UTC)
    assert event.requested_at.utcoffset() == timedelta(hours=-3)  # aware, offset kept


def test_seed_000_failed_carries_the_failure_code_and_message() -> None:
    event = verified(FAILED)
    assert isinstance(event, CashOutFailed)
    assert event.failure == Failure("AC06", "The destination account is blocked.")
    assert event.amount == Decimal("12.34")
    assert event.payee.destination == BankAccount("18236120", "0001", "947710840", "PAYMENT")
    assert event.internal_code == "QWERTYUIOP"


def test_seed_004_confirmed_movement() -> None:
    event = verified(CONFIRMED)
    assert isinstance(event, CashOutMovement)
    assert event.confirmed and event.status == "CONFIRMED"
    assert event.transaction_id == "4ac6204e-7c82-47a8-9aea-7fbb6fde72db"
    assert event.external_id == "PIX-OUT-5483571657-OWUJDUDVDO"
    assert event.pix_key == "maria.silva@example.com"
    assert (event.fee_amount, event.original_amount, event.final_amount) == (
        Decimal("0.01"),
        Decimal("0.30"),
        Decimal("0.31"),
    )
    assert str(event.original_amount) == "0.30"
    assert event.processing_date == datetime(2025, 12, 11, 20, 6, 12, 117000, tzinfo=UTC)
    assert (event.error_code, event.error_message) == (None, None)
    c = event.counterpart
    assert (c.name, c.document, c.bank_ispb, c.bank_name, c.bank_code) == (
        "Maria Silva",
        "***.456.789-**",
        "18236120",
        "NU PAGAMENTOS - IP",
        "260",
    )
    assert (c.account_branch, c.account_number) == ("0001", "947710840")
    assert event.metadata == {"campaign": {"tags": ("a", "b")}}


def test_seed_004_error_movement() -> None:
    event = verified(ERROR)
    assert isinstance(event, CashOutMovement)
    assert not event.confirmed and event.status == "ERROR"
    assert (event.error_code, event.error_message) == (
        "AC06",
        "The destination account is blocked.",
    )
    assert event.end_to_end_id is None
    assert event.counterpart.bank_ispb is None and event.counterpart.document == "***.765.432-**"
    assert dict(event.metadata) == {}


def test_cashin_completed_is_read_field_for_field() -> None:
    event = verified(CASHIN_COMPLETED)
    assert isinstance(event, CashInCompleted)
    assert event.webhook_id == "msg_1"
    assert event.event_at == datetime(2026, 3, 10, 17, 2, 35, tzinfo=UTC)
    assert (event.transaction_id, event.internal_code, event.external_reference) == (
        "0b7f0c5e-2a43-4f4e-9a37-1c1f4a3f9d11",
        "QRCODEABCD",
        "order-42",
    )
    assert event.txid == "k3J9x0aQ2mZ7pL4tR8vW1yB6cD5eF" and event.status == "COMPLETED"
    assert (event.amount, event.fee_amount, event.net_amount) == (
        Decimal("50.00"),
        Decimal("0.70"),
        Decimal("49.30"),
    )
    assert str(event.fee_amount) == "0.70"
    assert event.end_to_end_id == "E6070119020260310170230abcdEFGH1"
    assert event.paid_at == datetime(2026, 3, 10, 17, 2, 30, tzinfo=UTC)
    assert event.paid_at.utcoffset() == timedelta(hours=-3)
    assert event.payer == CashInPayer(
        "Pagador Sandbox", "***.982.247-**", "60701190", "ITAÚ UNIBANCO S.A.", "341"
    )


def test_a_cashin_completed_to_a_key_alone_has_no_charge_fields() -> None:
    """What the server renders for a Pix with no charge: no internalCode, txid or
    externalReference, and a payer whose bank is not in the participants list."""
    data = {
        **CASHIN_COMPLETED["data"],
        "internalCode": None,
        "txid": None,
        "externalReference": None,
        "payer": {**SANDBOX_PAYER, "bank": {"ispb": "99999999", "name": None, "code": None}},
    }
    event = verified({**CASHIN_COMPLETED, "data": data})
    assert isinstance(event, CashInCompleted)
    assert (event.internal_code, event.txid, event.external_reference) == (None, None, None)
    assert (event.payer.bank_ispb, event.payer.bank_name, event.payer.bank_code) == (
        "99999999",
        None,
        None,
    )


def test_cashin_expired_is_read_field_for_field() -> None:
    event = verified(CASHIN_EXPIRED)
    assert isinstance(event, CashInExpired)
    assert (event.internal_code, event.status, event.amount) == (
        "QRCODEABCD",
        "EXPIRED",
        Decimal("50.00"),
    )
    assert event.external_reference == "order-42"
    assert event.expires_at == datetime(2026, 3, 11, 17, 0, tzinfo=UTC)
    assert event.event_at == datetime(2026, 3, 11, 17, 0, 1, tzinfo=UTC)


def test_the_cashin_movement_is_a_credit_with_the_payer_as_counterpart() -> None:
    event = verified(CASHIN_MOVEMENT)
    assert isinstance(event, CashInMovement)
    assert event.confirmed and event.status == "CONFIRMED"
    assert (event.transaction_id, event.external_id, event.pix_key) == (
        "0b7f0c5e-2a43-4f4e-9a37-1c1f4a3f9d11",
        "order-42",
        "5f1c7a2e-8d4b-4c39-9e0a-6b2d3f4e5a61",
    )
    assert (event.original_amount, event.fee_amount, event.final_amount) == (
        Decimal("50.00"),
        Decimal("0.70"),
        Decimal("49.30"),
    )
    assert event.final_amount == event.original_amount - event.fee_amount
    assert event.processing_date == datetime(2026, 3, 10, 17, 2, 30, tzinfo=UTC)
    c = event.counterpart
    assert (c.name, c.document, c.bank_ispb, c.bank_name, c.bank_code) == (
        "Pagador Sandbox",
        "***.982.247-**",
        "60701190",
        "ITAÚ UNIBANCO S.A.",
        "341",
    )
    assert (c.account_branch, c.account_number) == (None, None)
    assert dict(event.metadata) == {}
    to_a_key = verified({**CASHIN_MOVEMENT, "externalId": None})
    assert isinstance(to_a_key, CashInMovement) and to_a_key.external_id is None


def test_the_movement_metadata_is_read_only() -> None:
    event = verified(CONFIRMED)
    assert isinstance(event, CashOutMovement)
    with pytest.raises(TypeError):
        event.metadata["new"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        event.metadata["campaign"]["tags"] = ()
    with pytest.raises(FrozenInstanceError):
        event.metadata = {}  # type: ignore[misc]


def test_a_rotation_lets_the_old_and_the_new_secret_verify() -> None:
    body = dumps(CONFIRMED)
    both = headers_for(body, SECRET, OLD_SECRET)  # the server signs with both for a day
    assert len(both["webhook-signature"].split(" ")) == 2
    for secrets in ([SECRET], [OLD_SECRET], [SECRET, OLD_SECRET], (OLD_SECRET, SECRET)):
        assert isinstance(verify(body, both, secrets, now=NOW), CashOutMovement)
    only_old = headers_for(body, OLD_SECRET)  # a delivery signed before the rotation
    assert isinstance(verify(body, only_old, [SECRET, OLD_SECRET], now=NOW), CashOutMovement)
    refused(body, only_old, SECRET)
    refused(body, only_old, [])


def test_headers_are_matched_in_any_case() -> None:
    body = dumps(COMPLETED)
    upper = {k.upper(): v for k, v in headers_for(body).items()}
    assert isinstance(verify(body, upper, SECRET, now=NOW), CashOutCompleted)


def test_the_real_clock_is_used_when_no_now_is_given() -> None:
    body = dumps(COMPLETED)
    assert isinstance(
        verify(body, headers_for(body, at=datetime.now(UTC)), SECRET), CashOutCompleted
    )
    assert "too old" in refused_at_real_time(body)


def refused_at_real_time(body: bytes) -> str:
    with pytest.raises(WebhookVerificationError) as raised:
        verify(body, headers_for(body, at=NOW), SECRET)  # NOW is long past
    return raised.value.message


# what verify refuses --------------------------------------------------------------------


def test_a_bad_signature_is_refused() -> None:
    body = dumps(COMPLETED)
    headers = headers_for(body)
    assert "no signature" in refused(body.replace(b"50.00", b"5000.00"), headers)  # tampered
    assert "no signature" in refused(body, headers, OLD_SECRET)  # another secret
    assert "no signature" in refused(body, {**headers, "webhook-id": "msg_2"})
    timestamp = str(int(NOW.timestamp()) - 1)
    assert "no signature" in refused(body, {**headers, "webhook-timestamp": timestamp})
    for bad in ("v1,", "v1,!!!notbase64", "v2," + headers["webhook-signature"][3:], "garbage"):
        assert "no signature" in refused(body, {**headers, "webhook-signature": bad})
    with pytest.raises(WebhookVerificationError, match="whsec_"):
        verify(body, headers, "whsec_not base64!", now=NOW)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-4, seconds=-59), True),
        (timedelta(minutes=4, seconds=59), True),
        (timedelta(minutes=-5, seconds=-1), False),  # stale
        (timedelta(minutes=5, seconds=1), False),  # from the future
        (timedelta(days=-1), False),
        (timedelta(days=1), False),
    ],
)
def test_timestamps_more_than_five_minutes_away_are_refused(
    offset: timedelta, accepted: bool
) -> None:
    body = dumps(COMPLETED)
    headers = headers_for(body, at=NOW + offset)  # correctly signed, at that time
    if accepted:
        assert isinstance(verify(body, headers, SECRET, now=NOW), CashOutCompleted)
    else:
        assert "too old or too new" in refused(body, headers)


def test_the_tolerance_can_be_widened() -> None:
    body = dumps(COMPLETED)
    headers = headers_for(body, at=NOW - timedelta(minutes=10))
    refused(body, headers)
    assert verify(body, headers, SECRET, now=NOW, tolerance=timedelta(minutes=11))


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers_are_refused(missing: str) -> None:
    body = dumps(COMPLETED)
    headers = headers_for(body)
    assert "missing" in refused(body, {k: v for k, v in headers.items() if k != missing})
    assert "missing" in refused(body, {**headers, missing: ""})


@pytest.mark.parametrize("timestamp", ["soon", "1.5e9", "-5", "१२३", "9" * 30, " 1773162160"])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(timestamp: str) -> None:
    body = dumps(COMPLETED)
    headers = {**headers_for(body), "webhook-timestamp": timestamp}
    headers["webhook-signature"] = signature(SECRET, "msg_1", timestamp, body)
    assert "Unix time" in refused(body, headers)


def broken(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``payload`` with the field at dotted ``path`` set to ``value`` (``...`` removes it)."""
    changed = copy.deepcopy(payload)
    *parents, leaf = path.split(".")
    holder = changed
    for name in parents:
        holder = holder[name]
    if value is ...:
        del holder[leaf]
    else:
        holder[leaf] = value
    return changed


# (why, body, a word the refusal names)
MALFORMED: list[tuple[str, bytes, str]] = [
    ("not JSON", b"not json", "not JSON"),
    ("truncated JSON", dumps(COMPLETED)[:-1], "not JSON"),
    ("not UTF-8", b'{"event": "\xff"}', "not JSON"),
    ("a JSON array", b"[1, 2]", "not a JSON object"),
    ("a JSON string", b'"CASHOUT_COMPLETED"', "not a JSON object"),
    ("a JSON number", b"50.00", "not a JSON object"),
    ("null", b"null", "not a JSON object"),
    ("an empty object", b"{}", "unknown event"),
    ("an unknown event", dumps({**COMPLETED, "eventType": "CASHOUT_REFUNDED"}), "unknown"),
    ("data not an object", dumps({**COMPLETED, "data": ["x"]}), "data"),
    ("data missing", dumps(broken(COMPLETED, "data", ...)), "data"),
    ("no internalCode", dumps(broken(COMPLETED, "data.internalCode", ...)), "internalCode"),
    ("internalCode a number", dumps(broken(COMPLETED, "data.internalCode", 7)), "internalCode"),
    ("no amount", dumps(broken(COMPLETED, "data.amount", ...)), "amount"),
    ("a non-numeric amount", dumps(broken(COMPLETED, "data.amount", "fifty")), "amount"),
    ("an amount as a string", dumps(broken(COMPLETED, "data.amount", "50.00")), "amount"),
    ("a boolean amount", dumps(broken(COMPLETED, "data.amount", True)), "amount"),
    ("3 decimal places", dumps(broken(COMPLETED, "data.amount", Decimal("1.005"))), "amount"),
    ("a NaN amount", dumps(COMPLETED).replace(b"50.00", b"NaN"), "amount"),
    ("an infinite amount", dumps(COMPLETED).replace(b"50.00", b"Infinity"), "amount"),
    ("a huge amount", dumps(COMPLETED).replace(b"50.00", b"1e999999"), "amount"),
    ("a huge integer amount", dumps(broken(COMPLETED, "data.amount", 10**40)), "amount"),
    ("a naive eventAt", dumps(broken(COMPLETED, "eventAt", "2026-03-10T17:02:35")), "zone"),
    ("a naive paidAt", dumps(broken(COMPLETED, "data.paidAt", "2026-03-10T14:02:30")), "zone"),
    ("a non-date requestedAt", dumps(broken(COMPLETED, "data.requestedAt", "yesterday")), ""),
    ("a numeric requestedAt", dumps(broken(COMPLETED, "data.requestedAt", 17)), "requestedAt"),
    ("payee a string", dumps(broken(COMPLETED, "data.payee", "Maria")), "payee"),
    ("payee without name", dumps(broken(COMPLETED, "data.payee.name", ...)), "name"),
    ("no destination", dumps(broken(COMPLETED, "data.payee.destination", ...)), "destination"),
    ("destination a list", dumps(broken(COMPLETED, "data.payee.destination", [])), "destination"),
    ("completed without paidAt", dumps(broken(COMPLETED, "data.paidAt", None)), "paidAt"),
    ("failed without failure", dumps(broken(FAILED, "data.failure", ...)), "failure"),
    ("failure a string", dumps(broken(FAILED, "data.failure", "AC06")), "failure"),
    ("failure without code", dumps(broken(FAILED, "data.failure.code", ...)), "code"),
    ("no counterpart", dumps(broken(CONFIRMED, "counterpart", ...)), "counterpart"),
    ("counterpart a list", dumps(broken(CONFIRMED, "counterpart", [])), "counterpart"),
    ("bank a string", dumps(broken(CONFIRMED, "counterpart.bank", "NU")), "bank"),
    ("an unknown movement status", dumps(broken(CONFIRMED, "status", "PENDING")), "status"),
    ("no transactionId", dumps(broken(CONFIRMED, "transactionId", ...)), "transactionId"),
    ("a non-numeric feeAmount", dumps(broken(CONFIRMED, "feeAmount", "n/a")), "feeAmount"),
    ("a null finalAmount", dumps(broken(CONFIRMED, "finalAmount", None)), "finalAmount"),
    ("a naive processingDate", dumps(broken(CONFIRMED, "processingDate", "2025-12-11")), "zone"),
    ("metadata a list", dumps(broken(CONFIRMED, "metadata", [1])), "metadata"),
    ("pixKey a number", dumps(broken(CONFIRMED, "pixKey", 5)), "pixKey"),
    # cash-ins
    ("an unknown cash-in event", dumps({**CASHIN_COMPLETED, "eventType": "CASHIN_X"}), "unknown"),
    ("cash-in data missing", dumps(broken(CASHIN_COMPLETED, "data", ...)), "data"),
    ("no netAmount", dumps(broken(CASHIN_COMPLETED, "data.netAmount", ...)), "netAmount"),
    ("a string feeAmount", dumps(broken(CASHIN_COMPLETED, "data.feeAmount", "0.70")), "feeAmount"),
    (
        "no cash-in endToEndId",
        dumps(broken(CASHIN_COMPLETED, "data.endToEndId", None)),
        "endToEndId",
    ),
    ("no cash-in paidAt", dumps(broken(CASHIN_COMPLETED, "data.paidAt", ...)), "paidAt"),
    (
        "a naive cash-in paidAt",
        dumps(broken(CASHIN_COMPLETED, "data.paidAt", "2026-03-10")),
        "zone",
    ),
    (
        "cash-in internalCode a number",
        dumps(broken(CASHIN_COMPLETED, "data.internalCode", 1)),
        "internalCode",
    ),
    ("no payer", dumps(broken(CASHIN_COMPLETED, "data.payer", ...)), "payer"),
    ("payer a string", dumps(broken(CASHIN_COMPLETED, "data.payer", "Ana")), "payer"),
    ("payer without bank", dumps(broken(CASHIN_COMPLETED, "data.payer.bank", ...)), "payer.bank"),
    ("payer bank no ispb", dumps(broken(CASHIN_COMPLETED, "data.payer.bank.ispb", ...)), "ispb"),
    (
        "no cash-in transactionId",
        dumps(broken(CASHIN_COMPLETED, "data.transactionId", ...)),
        "transactionId",
    ),
    ("expired without amount", dumps(broken(CASHIN_EXPIRED, "data.amount", None)), "amount"),
    (
        "expired without expiresAt",
        dumps(broken(CASHIN_EXPIRED, "data.expiresAt", ...)),
        "expiresAt",
    ),
    (
        "expired without internalCode",
        dumps(broken(CASHIN_EXPIRED, "data.internalCode", None)),
        "internalCode",
    ),
    ("a cash-in movement in ERROR", dumps(broken(CASHIN_MOVEMENT, "status", "ERROR")), "status"),
    (
        "a cash-in movement, no e2e",
        dumps(broken(CASHIN_MOVEMENT, "endToEndId", None)),
        "endToEndId",
    ),
    (
        "a cash-in movement, 3 places",
        dumps(broken(CASHIN_MOVEMENT, "finalAmount", Decimal("1.001"))),
        "finalAmount",
    ),
    (
        "a cash-in counterpart list",
        dumps(broken(CASHIN_MOVEMENT, "counterpart", [])),
        "counterpart",
    ),
    ("externalId a number", dumps(broken(CASHIN_MOVEMENT, "externalId", 42)), "externalId"),
]


@pytest.mark.parametrize(("why", "body", "names"), MALFORMED, ids=[why for why, _, _ in MALFORMED])
def test_a_correctly_signed_malformed_body_is_refused(why: str, body: bytes, names: str) -> None:
    message = refused(body, headers_for(body))
    assert message.startswith("malformed webhook body"), why
    assert names in message, message


# the server's own payloads ---------------------------------------------------------------


def test_payloads_rendered_and_signed_by_the_server_verify() -> None:
    """The SDK reads what the server's domain renders, encodes and signs, so the two
    cannot drift apart unnoticed."""
    from connectpsp.adapters.participants import load_participants
    from connectpsp.api.jsonio import encode
    from connectpsp.domain import cashout as d
    from connectpsp.domain import cashout_payloads as payloads
    from connectpsp.domain import webhooks as server
    from connectpsp.domain.pix import AccountType, PixKeyType

    requested = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
    paid = NOW - timedelta(seconds=5)
    completed = d.CashOut(
        id="4ac6204e-7c82-47a8-9aea-7fbb6fde72db",
        internal_code="IVKPRMOCDY",
        client_id="client-1",
        external_reference="withdrawal-user-42-001",
        amount=5030,
        fee=1,
        description=None,
        webhook_url="http://127.0.0.1:9/hook",
        payee=d.Payee(
            "Maria Silva", "12345678909", d.PixDestination(PixKeyType.CPF, "12345678909")
        ),
        status=d.CashOutStatus.COMPLETED,
        requested_at=requested,
        end_to_end_id="E00416968202603101702cemeFscF6AG",
        paid_at=paid,
        creditor=d.Creditor(
            "Maria Silva", "12345678909", "18236120", "0001", "947710840", AccountType.PAYMENT
        ),
    )
    failed = d.CashOut(
        **{
            **completed.__dict__,
            "status": d.CashOutStatus.FAILED,
            "end_to_end_id": None,
            "paid_at": None,
            "creditor": None,
            "payee": d.Payee(
                "Ana Costa",
                "98765432100",
                d.BankAccount("18236120", "0001", "12345", AccountType.CHECKING),
            ),
            "failure": d.Failure("AC06", "The destination account is blocked."),
        }
    )
    participants = load_participants()
    timestamp = int(NOW.timestamp())
    old, new = server.new_webhook_secret(), server.new_webhook_secret()

    def deliver(payload: dict[str, Any]) -> webhooks.Event:
        body = encode(payload)
        headers = {
            "webhook-id": "msg_server",
            "webhook-timestamp": str(timestamp),
            "webhook-signature": server.sign([new, old], "msg_server", timestamp, body),
        }
        event = verify(body, headers, old, now=NOW)
        assert verify(body, headers, [new], now=NOW) == event
        return event

    own = deliver(payloads.cash_out_event(completed, NOW))
    assert isinstance(own, CashOutCompleted)
    assert (own.amount, own.internal_code, own.paid_at) == (Decimal("50.30"), "IVKPRMOCDY", paid)
    assert own.payee.document == "***.456.789-**"
    assert own.requested_at == requested and own.event_at == NOW

    lost = deliver(payloads.cash_out_event(failed, NOW))
    assert isinstance(lost, CashOutFailed)
    assert lost.failure == Failure("AC06", "The destination account is blocked.")
    assert lost.payee.destination == BankAccount("18236120", "0001", "12345", "CHECKING")

    moved = deliver(payloads.movement_event(completed, NOW, participants))
    assert isinstance(moved, CashOutMovement) and moved.confirmed
    assert (moved.original_amount, moved.fee_amount, moved.final_amount) == (
        Decimal("50.30"),
        Decimal("0.01"),
        Decimal("50.31"),
    )
    assert moved.external_id == "withdrawal-user-42-001"
    assert moved.counterpart.bank_ispb == "18236120" and moved.counterpart.bank_name
    assert moved.processing_date == NOW

    refused_movement = deliver(payloads.movement_event(failed, NOW, participants))
    assert isinstance(refused_movement, CashOutMovement)
    assert refused_movement.status == "ERROR"
    assert refused_movement.error_code == "AC06"
    assert refused_movement.counterpart.account_number == "12345"
    assert refused_movement.pix_key is None


def test_cash_in_payloads_rendered_and_signed_by_the_server_verify() -> None:
    """CASHIN_COMPLETED, CASHIN_EXPIRED and the CashIn movement as the server's domain
    renders them, for a paid charge and for a Pix to a key alone, read by the SDK."""
    from connectpsp.adapters.participants import load_participants
    from connectpsp.api.jsonio import encode
    from connectpsp.domain import cashin as d
    from connectpsp.domain import cashin_payloads as payloads
    from connectpsp.domain import webhooks as server

    created = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
    paid = NOW - timedelta(seconds=5)
    charge = d.Charge(
        id="0b7f0c5e-2a43-4f4e-9a37-1c1f4a3f9d11",
        internal_code="QRCODEABCD",
        client_id="client-1",
        txid="k3J9x0aQ2mZ7pL4tR8vW1yB6cD5eF",
        external_reference="order-42",
        type=d.ChargeType.DYNAMIC,
        status=d.ChargeStatus.COMPLETED,
        amount=5000,
        description="Pedido 42",
        pix_key="5f1c7a2e-8d4b-4c39-9e0a-6b2d3f4e5a61",
        location_id="0" * 32,
        br_code="000201",
        expires_at=created + timedelta(days=1),
        created_at=created,
        updated_at=paid,
    )
    cash_in = d.CashIn(
        end_to_end_id="E6070119020260310170230abcdEFGH1",
        client_id="client-1",
        charge_id=charge.id,
        amount=5000,
        fee=70,
        pix_key=charge.pix_key,
        txid=charge.txid,
        payer=d.CashInPayer("Pagador Sandbox", "52998224725", "60701190"),
        paid_at=paid,
        received_at=paid,
    )
    to_a_key = d.CashIn(
        **{**cash_in.__dict__, "charge_id": None, "txid": None, "end_to_end_id": "E" + "1" * 31}
    )
    participants = load_participants()
    timestamp = int(NOW.timestamp())
    secret = server.new_webhook_secret()

    def deliver(payload: dict[str, Any]) -> webhooks.Event:
        body = encode(payload)
        headers = {
            "webhook-id": "msg_server",
            "webhook-timestamp": str(timestamp),
            "webhook-signature": server.sign([secret], "msg_server", timestamp, body),
        }
        return verify(body, headers, secret, now=NOW)

    completed = deliver(payloads.cash_in_completed(cash_in, charge, NOW, participants))
    assert isinstance(completed, CashInCompleted)
    assert (completed.amount, completed.fee_amount, completed.net_amount) == (
        Decimal("50.00"),
        Decimal("0.70"),
        Decimal("49.30"),
    )
    assert (completed.internal_code, completed.status, completed.paid_at) == (
        "QRCODEABCD",
        "COMPLETED",
        paid,
    )
    assert completed.payer.document == "***.982.247-**" and completed.payer.bank_code == "341"
    keyed = deliver(payloads.cash_in_completed(to_a_key, None, NOW, participants))
    assert isinstance(keyed, CashInCompleted)
    assert (keyed.internal_code, keyed.txid, keyed.external_reference) == (None, None, None)
    assert keyed.transaction_id == payloads.transaction_id(to_a_key)

    moved = deliver(payloads.movement_event(cash_in, charge, NOW, participants))
    assert isinstance(moved, CashInMovement) and moved.confirmed
    assert (moved.original_amount, moved.final_amount) == (Decimal("50.00"), Decimal("49.30"))
    assert (moved.external_id, moved.end_to_end_id) == ("order-42", cash_in.end_to_end_id)
    assert moved.counterpart.bank_name == "ITAÚ UNIBANCO S.A."
    assert moved.processing_date == NOW
    keyed_move = deliver(payloads.movement_event(to_a_key, None, NOW, participants))
    assert isinstance(keyed_move, CashInMovement) and keyed_move.external_id is None

    expired_charge = d.Charge(**{**charge.__dict__, "status": d.ChargeStatus.EXPIRED})
    expired = deliver(payloads.charge_expired(expired_charge, NOW))
    assert isinstance(expired, CashInExpired)
    assert (expired.status, expired.amount, expired.expires_at) == (
        "EXPIRED",
        Decimal("50.00"),
        charge.expires_at,
    )
