"""Strict readers of a signed webhook body's fields: each raises ``Malformed`` (which
``_webhooks.verify`` turns into a ``WebhookVerificationError``) for a missing or
mistyped field, an amount that is not a JSON number with at most two decimal places, or
a time without a zone."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from types import MappingProxyType
from typing import Any

from connectpsp.client._models import parse_time

__all__ = ["Malformed", "frozen", "json_object", "money", "optional_text", "text", "time"]

_CENT = Decimal("0.01")


class Malformed(Exception):
    """A signed body that is not one of the events (caught by ``verify``)."""


def json_object(value: Any, name: str = "the body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{name} is not a JSON object")
    return value


def text(d: dict[str, Any], name: str) -> str:
    value = d.get(name)
    if not isinstance(value, str):
        raise Malformed(f"{name} is missing or not a string")
    return value


def optional_text(d: dict[str, Any], name: str) -> str | None:
    value = d.get(name)
    if value is not None and not isinstance(value, str):
        raise Malformed(f"{name} is not a string")
    return value


def money(d: dict[str, Any], name: str) -> Decimal:
    """A JSON number with at most two decimal places, as the seeds send amounts."""
    value = d.get(name)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise Malformed(f"{name} is missing or not a number")
    amount = Decimal(value)
    try:
        cents = amount.quantize(_CENT, rounding=ROUND_DOWN)  # NaN, ±inf, 1e999: Invalid
    except ArithmeticError:
        cents = None
    if cents is None or not cents.is_finite() or cents != amount:
        raise Malformed(f"{name} is not an amount with at most two decimal places")
    return cents


def time(d: dict[str, Any], name: str) -> datetime:
    return parse_time(text(d, name))  # ValueError when it has no zone


def frozen(value: Any) -> Any:
    """JSON made read-only: objects become mappingproxies, arrays tuples."""
    if isinstance(value, dict):
        return MappingProxyType({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(frozen(v) for v in value)
    return value
