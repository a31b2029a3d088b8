"""Each call of the API, described once as a ``Plan``: method, path, body, and how to
read the answer. Both clients run the same plans through ``_core.BaseClient._exchange``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import quote

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
    "create_cash_out_plan",
    "create_webhook_plan",
    "delete_webhook_plan",
    "deliveries_plan",
    "find_cash_out_plan",
    "get_cash_out_plan",
    "list_webhooks_plan",
    "replay_plan",
    "retry_delivery_plan",
    "rotate_plan",
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


def create_cash_out_plan(
    amount: Amount | Decimal | str,
    external_reference: str,
    payee: Payee | Mapping[str, Any],
    description: str | None,
    webhook_url: str | None,
    idempotency_key: str | None,
) -> Plan[AcceptedCashOut]:
    body: dict[str, Any] = {
        "amount": str(Amount.parse(amount)),  # a decimal string: exact, never a float
        "externalReference": external_reference,
        "payee": payee.to_json() if isinstance(payee, Payee) else dict(payee),
    }
    if description is not None:
        body["description"] = description
    if webhook_url is not None:
        body["webhookUrl"] = webhook_url
    return Plan(
        "POST",
        "/cash-out",
        AcceptedCashOut.from_json,
        body=body,
        idempotency_key=idempotency_key,
        sign=True,
    )


def get_cash_out_plan(internal_code: str) -> Plan[CashOut]:
    return Plan("GET", f"/cash-out/{_segment(internal_code)}", CashOut.from_json)


def find_cash_out_plan(external_reference: str) -> Plan[CashOut]:
    return Plan(
        "GET", "/cash-out", CashOut.from_json, params={"externalReference": external_reference}
    )


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
