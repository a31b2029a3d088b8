"""Each call of the API, described once as a ``Plan``: method, path, body, and how to
read the answer. Both clients run the same plans through ``_core.BaseClient._exchange``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from connectpsp.client._charges import Charge, Refund, RegisteredPixKey
from connectpsp.client._models import (
    AcceptedCashOut,
    Amount,
    Balance,
    CashOut,
    Payee,
    SecretRotation,
    WebhookDelivery,
    WebhookEndpoint,
    parse_time,
)

__all__ = [
    "Plan",
    "balance_plan",
    "cancel_charge_plan",
    "cash_out_body",
    "create_cash_out_plan",
    "create_charge_plan",
    "create_webhook_plan",
    "delete_pix_key_plan",
    "delete_webhook_plan",
    "deliveries_plan",
    "find_cash_out_plan",
    "find_charge_plan",
    "get_cash_out_plan",
    "get_charge_plan",
    "get_refund_plan",
    "list_pix_keys_plan",
    "list_webhooks_plan",
    "qr_code_plan",
    "refund_plan",
    "register_pix_key_plan",
    "replay_plan",
    "retry_delivery_plan",
    "rotate_plan",
    "sandbox_pay_plan",
    "token_plan",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Plan(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]
    body: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    idempotency_key: str | None = None
    sign: bool = False
    auth: bool = True
    # Set for an answer that is not JSON: ``read`` is given its bytes, and an answer of
    # another content type is an INVALID_RESPONSE.
    media_type: str | None = None


def _nothing(_: Any) -> None:
    return None


def _segment(value: str) -> str:
    # An id is one path segment: a "/", "?" or "#" in it must not reach another route.
    return quote(value, safe="")


def _aware(moment: datetime, name: str) -> str:
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.isoformat()


def _token(d: Any) -> tuple[str, float]:
    return str(d["accessToken"]), float(d["expiresIn"])


def token_plan(client_id: str, client_secret: str) -> Plan[tuple[str, float]]:
    return Plan(
        "POST",
        "/auth/token",
        _token,
        body={"clientId": client_id, "clientSecret": client_secret},
        auth=False,
    )


# cash-outs ----------------------------------------------------------------------------


def cash_out_body(
    amount: Amount | Decimal | str,
    external_reference: str,
    payee: Payee | Mapping[str, Any],
    description: str | None,
    webhook_url: str | None,
) -> dict[str, Any]:
    """POST /cash-out's body (an item of POST /cash-out/batch's)."""
    body: dict[str, Any] = {
        "amount": str(Amount.parse(amount)),  # a decimal string: exact, never a float
        "externalReference": external_reference,
        "payee": payee.to_json() if isinstance(payee, Payee) else dict(payee),
    }
    if description is not None:
        body["description"] = description
    if webhook_url is not None:
        body["webhookUrl"] = webhook_url
    return body


def create_cash_out_plan(
    amount: Amount | Decimal | str,
    external_reference: str,
    payee: Payee | Mapping[str, Any],
    description: str | None,
    webhook_url: str | None,
    idempotency_key: str | None,
) -> Plan[AcceptedCashOut]:
    return Plan(
        "POST",
        "/cash-out",
        AcceptedCashOut.from_json,
        body=cash_out_body(amount, external_reference, payee, description, webhook_url),
        idempotency_key=idempotency_key,
        sign=True,
    )


def get_cash_out_plan(internal_code: str) -> Plan[CashOut]:
    return Plan("GET", f"/cash-out/{_segment(internal_code)}", CashOut.from_json)


def find_cash_out_plan(external_reference: str) -> Plan[CashOut]:
    return Plan(
        "GET", "/cash-out", CashOut.from_json, params={"externalReference": external_reference}
    )


# cash-ins ------------------------------------------------------------------------------


def create_charge_plan(
    amount: Amount | Decimal | str | None,
    external_reference: str,
    charge_type: str,
    description: str | None,
    expires_in: int | None,
    payer: Mapping[str, Any] | None,
    webhook_url: str | None,
    idempotency_key: str | None,
) -> Plan[Charge]:
    body: dict[str, Any] = {"type": charge_type, "externalReference": external_reference}
    if amount is not None:
        body["amount"] = str(Amount.parse(amount))
    if description is not None:
        body["description"] = description
    if expires_in is not None:
        body["expiresIn"] = expires_in
    if payer is not None:
        body["payer"] = dict(payer)
    if webhook_url is not None:
        body["webhookUrl"] = webhook_url
    return Plan(
        "POST",
        "/cash-in",
        Charge.from_json,
        body=body,
        idempotency_key=idempotency_key,
        sign=True,
    )


def get_charge_plan(internal_code: str) -> Plan[Charge]:
    return Plan("GET", f"/cash-in/{_segment(internal_code)}", Charge.from_json)


def find_charge_plan(external_reference: str) -> Plan[Charge]:
    return Plan(
        "GET", "/cash-in", Charge.from_json, params={"externalReference": external_reference}
    )


def cancel_charge_plan(internal_code: str) -> Plan[Charge]:
    return Plan("DELETE", f"/cash-in/{_segment(internal_code)}", Charge.from_json)


_QR_MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def qr_code_plan(internal_code: str, image_format: Literal["png", "svg"]) -> Plan[bytes]:
    if image_format not in _QR_MEDIA_TYPES:
        raise ValueError(f"format must be 'png' or 'svg', not {image_format!r}")
    return Plan(
        "GET",
        f"/cash-in/{_segment(internal_code)}/qrcode.{image_format}",
        bytes,
        media_type=_QR_MEDIA_TYPES[image_format],
    )


def refund_plan(
    internal_code: str | None,
    amount: Amount | Decimal | str,
    end_to_end_id: str | None,
    reason: str,
    description: str | None,
    idempotency_key: str | None,
) -> Plan[Refund]:
    body: dict[str, Any] = {"amount": str(Amount.parse(amount)), "reason": reason}
    if end_to_end_id is not None:
        body["endToEndId"] = end_to_end_id
    if description is not None:
        body["description"] = description
    # No charge: any received Pix, by the endToEndId the body names (POST /refunds).
    path = f"/cash-in/{_segment(internal_code)}/refunds" if internal_code else "/refunds"
    return Plan(
        "POST",
        path,
        Refund.from_json,
        body=body,
        idempotency_key=idempotency_key,
        sign=True,
    )


def get_refund_plan(refund_id: str) -> Plan[Refund]:
    return Plan("GET", f"/refunds/{_segment(refund_id)}", Refund.from_json)


def register_pix_key_plan(
    key_type: str, key: str | None, idempotency_key: str | None = None
) -> Plan[RegisteredPixKey]:
    body: dict[str, Any] = {"type": key_type}
    if key is not None:
        body["key"] = key
    return Plan(
        "POST",
        "/pix-keys",
        RegisteredPixKey.from_json,
        body=body,
        sign=True,
        idempotency_key=idempotency_key,
    )


def list_pix_keys_plan() -> Plan[list[RegisteredPixKey]]:
    return Plan("GET", "/pix-keys", lambda d: [RegisteredPixKey.from_json(k) for k in d["items"]])


def delete_pix_key_plan(key: str) -> Plan[None]:
    return Plan("DELETE", f"/pix-keys/{_segment(key)}", _nothing)


# the sandbox ---------------------------------------------------------------------------


def sandbox_pay_plan(
    br_code: str | None,
    pix_key: str | None,
    amount: Amount | Decimal | str | None,
    payer: Mapping[str, Any] | None,
    paid_at: datetime | None,
) -> Plan[str]:
    if (br_code is None) == (pix_key is None):
        raise ValueError("give either br_code or pix_key, and not both")
    body: dict[str, Any] = {"brCode": br_code} if br_code is not None else {"pixKey": pix_key}
    if amount is not None:
        body["amount"] = str(Amount.parse(amount))
    if payer is not None:
        body["payer"] = dict(payer)
    if paid_at is not None:
        body["paidAt"] = _aware(paid_at, "paid_at")
    return Plan("POST", "/sandbox/pix/pay", _end_to_end_id, body=body)


def _end_to_end_id(d: Any) -> str:
    value = d["endToEndId"]
    if not isinstance(value, str):
        raise TypeError(f"endToEndId is not a string: {value!r}")
    return value


# balance ------------------------------------------------------------------------------


def balance_plan() -> Plan[Balance]:
    return Plan("GET", "/balance", Balance.from_json)


# webhooks -----------------------------------------------------------------------------


def create_webhook_plan(
    url: str, events: list[str] | None, idempotency_key: str | None
) -> Plan[WebhookEndpoint]:
    body: dict[str, Any] = {"url": url}
    if events is not None:
        body["events"] = list(events)
    return Plan(
        "POST", "/webhooks", WebhookEndpoint.from_json, body=body, idempotency_key=idempotency_key
    )


def list_webhooks_plan() -> Plan[list[WebhookEndpoint]]:
    return Plan("GET", "/webhooks", lambda d: [WebhookEndpoint.from_json(e) for e in d["data"]])


def delete_webhook_plan(endpoint_id: str) -> Plan[None]:
    return Plan("DELETE", f"/webhooks/{_segment(endpoint_id)}", _nothing)


def rotate_plan(endpoint_id: str, idempotency_key: str | None) -> Plan[SecretRotation]:
    def read(d: Any) -> SecretRotation:
        return SecretRotation(d["id"], d["secret"], parse_time(d["previousSecretExpiresAt"]))

    return Plan(
        "POST",
        f"/webhooks/{_segment(endpoint_id)}/rotate-secret",
        read,
        idempotency_key=idempotency_key,
    )


def deliveries_plan(status: str | None, limit: int) -> Plan[list[WebhookDelivery]]:
    params: dict[str, Any] = {"limit": limit}
    if status is not None:
        params["status"] = status
    return Plan(
        "GET",
        "/webhooks/deliveries",
        lambda d: [WebhookDelivery.from_json(x) for x in d["data"]],
        params=params,
    )


def retry_delivery_plan(delivery_id: str) -> Plan[None]:
    return Plan("POST", f"/webhooks/deliveries/{_segment(delivery_id)}/retry", _nothing)


def replay_plan(endpoint_id: str, since: datetime, until: datetime) -> Plan[int]:
    return Plan(
        "POST",
        f"/webhooks/{_segment(endpoint_id)}/replay",
        lambda d: int(d["replayed"]),
        body={"since": _aware(since, "since"), "until": _aware(until, "until")},
    )
