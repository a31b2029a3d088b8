"""The console's client forms, read into what ``service.clients`` takes and checked the
way the CLI checks its options (``validate_new_client``, ``validate_changes``); each bad
field is named by the form's own field name. And what the audit log keeps of a client:
never a secret, a hash or a ciphertext."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectpsp.domain.clients import Client
from connectpsp.domain.clock import iso_local
from connectpsp.domain.documents import mask_document
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.money import Centavos, parse_amount_or_zero, to_decimal
from connectpsp.service.clients import ClientChanges, validate_changes, validate_new_client

__all__ = [
    "LABELS",
    "SETTINGS",
    "NewClient",
    "client_record",
    "errors_by_field",
    "read_changes",
    "read_client_id",
    "read_new_client",
    "settings_form",
]

# The fees and limits, as the forms name them (``ClientChanges``'s names).
BPS = ("fee_bps", "cash_in_fee_bps")
SETTINGS = (
    "fee_fixed",
    "fee_bps",
    "cash_in_fee_fixed",
    "cash_in_fee_bps",
    "per_transaction_limit",
    "daily_limit",
)
LABELS = {
    "name": "Name",
    "document": "CPF or CNPJ",
    "merchant_city": "City on its BR Codes",
    "fee_fixed": "Cash-out fee, fixed (R$)",
    "fee_bps": "Cash-out fee, basis points",
    "cash_in_fee_fixed": "Cash-in fee, fixed (R$)",
    "cash_in_fee_bps": "Cash-in fee, basis points",
    "per_transaction_limit": "Per cash-out limit (R$)",
    "daily_limit": "Daily cash-out limit (R$)",
}


@dataclass(frozen=True)
class NewClient:
    """What ``ClientService.create`` is given; None: the server's default."""

    name: str
    document: str | None
    merchant_city: str | None
    fee_plan: FeePlan | None
    cash_in_fee_plan: FeePlan | None
    per_transaction_limit: Centavos | None
    daily_limit: Centavos | None


def read_client_id(form: Mapping[str, str]) -> str | None:
    """The id the new-client form was given when it was opened (so sending it twice
    cannot make two clients): a UUID as ``new_id`` writes it, or None."""
    given = form.get("client_id", "")
    try:
        return given if str(uuid.UUID(given)) == given else None
    except ValueError:
        return None


def read_new_client(form: Mapping[str, str]) -> NewClient:
    """The new-client form; ``ValidationFailed`` names every bad field."""
    bad: list[FieldError] = []
    changes = _settings(form, ("name", *SETTINGS), bad)
    try:
        validate_changes(changes)  # the name, fees and limits
    except ValidationFailed as error:
        bad.extend(error.errors)
    document = form.get("document", "").strip() or None
    city = form.get("merchant_city", "").strip() or None
    try:
        validate_new_client(changes.name or "", merchant_city=city, document=document)
    except ValidationFailed as error:
        bad.extend(e for e in error.errors if e.field in ("merchant_city", "document"))
    if bad:
        raise ValidationFailed(_in_order(bad))
    fees = (changes.fee_fixed, changes.fee_bps)
    cash_in = (changes.cash_in_fee_fixed, changes.cash_in_fee_bps)
    return NewClient(
        name=changes.name or "",
        document=document,
        merchant_city=city,
        fee_plan=FeePlan(fees[0] or 0, fees[1] or 0) if fees != (None, None) else None,
        cash_in_fee_plan=(
            FeePlan(cash_in[0] or 0, cash_in[1] or 0) if cash_in != (None, None) else None
        ),
        per_transaction_limit=changes.per_transaction_limit,
        daily_limit=changes.daily_limit,
    )


def read_changes(form: Mapping[str, str]) -> ClientChanges:
    """The fees-and-limits form (a blank field keeps its setting); ``ValidationFailed``
    names every bad field."""
    bad: list[FieldError] = []
    changes = _settings(form, SETTINGS, bad)
    try:
        validate_changes(changes)
    except ValidationFailed as error:
        bad.extend(error.errors)
    if bad:
        raise ValidationFailed(_in_order(bad))
    return changes


def _settings(
    form: Mapping[str, str], names: tuple[str, ...], bad: list[FieldError]
) -> ClientChanges:
    values: dict[str, Any] = {}
    for name in names:
        text = form.get(name, "").strip()
        if name == "name":
            values[name] = form.get(name, "")
        elif not text:
            continue
        elif name in BPS:
            if not (text.isascii() and text.isdigit()) or len(text) > 5:
                bad.append(FieldError(name, "must be a whole number from 0 to 10000"))
            else:
                values[name] = int(text)
        else:
            try:
                values[name] = parse_amount_or_zero(text)
            except ValueError as error:
                bad.append(FieldError(name, str(error)))
    return ClientChanges(**values)


def _in_order(bad: list[FieldError]) -> list[FieldError]:
    """Each field once (its first complaint), in the form's order."""
    seen: dict[str, FieldError] = {}
    for error in bad:
        seen.setdefault(error.field, error)
    order = list(LABELS)
    return sorted(seen.values(), key=lambda e: order.index(e.field) if e.field in order else 99)


def errors_by_field(error: ValidationFailed) -> dict[str, str]:
    return {e.field: e.message for e in error.errors}


def settings_form(client: Client) -> dict[str, str]:
    """The fees-and-limits form filled with a client's current values."""
    return {
        "fee_fixed": str(to_decimal(client.fee_plan.fixed)),
        "fee_bps": str(client.fee_plan.bps),
        "cash_in_fee_fixed": str(to_decimal(client.cash_in_fee_plan.fixed)),
        "cash_in_fee_bps": str(client.cash_in_fee_plan.bps),
        "per_transaction_limit": str(to_decimal(client.per_transaction_limit)),
        "daily_limit": str(to_decimal(client.daily_limit)),
    }


def client_record(client: Client) -> dict[str, Any]:
    """What the audit log keeps of a client, before and after an action: its settings
    and state, never a secret, a hash or a ciphertext (amounts in centavos)."""
    return {
        "name": client.name,
        "active": client.active,
        "document": mask_document(client.document) if client.document else None,
        "merchant_city": client.merchant_city,
        "fee_fixed": client.fee_plan.fixed,
        "fee_bps": client.fee_plan.bps,
        "cash_in_fee_fixed": client.cash_in_fee_plan.fixed,
        "cash_in_fee_bps": client.cash_in_fee_plan.bps,
        "per_transaction_limit": client.per_transaction_limit,
        "daily_limit": client.daily_limit,
        "secret_rotated_at": (
            iso_local(client.secret_rotated_at) if client.secret_rotated_at else None
        ),
    }
