"""A cash-out's body read into a ``CashOutRequest``: by ``schemas.CashOutIn`` (pydantic),
which names every bad field, or first by a plain reading of the usual body.

Most bodies pay a Pix key and are valid. For them the plain reading makes the same
request in a fifth of pydantic's time, by the same checks (``schemas``' and the
domain's own); anything else it does not take upon itself (another destination, a field
of the wrong type or out of bounds, an unknown field) goes to pydantic, which decides it
and words every error. A test holds the two to the same answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectpsp.api.schemas import (
    BrCodeDestinationIn,
    CashOutIn,
    PixDestinationIn,
    check_reference,
    parse_body,
)
from connectpsp.domain.cashout import BankAccount, CashOutRequest, Payee, PixDestination
from connectpsp.domain.documents import document_type
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.money import Centavos, parse_amount
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.pix import PixKeyType, validate_pix_key
from connectpsp.domain.webhooks import is_http_url

__all__ = ["checked_cash_out", "parse_cash_out", "pays_br_code", "plain_cash_out"]


def pays_br_code(data: Any) -> bool:
    """Whether a cash-out body pays a BR Code (parse it with a ``br_code`` reader, off
    the event loop: a dynamic code's location is fetched)."""
    payee = data.get("payee") if isinstance(data, dict) else None
    destination = payee.get("destination") if isinstance(payee, dict) else None
    return isinstance(destination, dict) and destination.get("type") == "BRCODE"


def parse_cash_out(
    data: Any,
    participants: ParticipantDirectory,
    per_transaction_limit: Centavos,
    br_code: Callable[[str, Centavos], PixDestination] | None = None,
) -> CashOutRequest:
    plain = plain_cash_out(data, per_transaction_limit)
    if plain is not None:
        return plain
    return checked_cash_out(data, participants, per_transaction_limit, br_code)


def checked_cash_out(
    data: Any,
    participants: ParticipantDirectory,
    per_transaction_limit: Centavos,
    br_code: Callable[[str, Centavos], PixDestination] | None = None,
) -> CashOutRequest:
    """Any body, read by ``CashOutIn``: ``ValidationFailed`` names every bad field."""
    body = parse_body(
        CashOutIn, data, participants=participants, per_transaction_limit=per_transaction_limit
    )
    d = body.payee.destination
    destination: PixDestination | BankAccount
    if isinstance(d, PixDestinationIn):
        destination = PixDestination(d.pix_key_type, d.pix_key)
    elif isinstance(d, BrCodeDestinationIn):
        if br_code is None:
            raise ValidationFailed(
                [FieldError("payee.destination.type", "BRCODE is not accepted here")]
            )
        destination = br_code(d.br_code, body.amount)
    else:
        destination = BankAccount(
            d.bank_account.ispb,
            d.bank_account.branch,
            d.bank_account.account,
            d.bank_account.account_type,
        )
    return CashOutRequest(
        amount=body.amount,
        external_reference=body.external_reference,
        description=body.description,
        webhook_url=body.webhook_url,
        payee=Payee(body.payee.name, body.payee.document, destination),
    )


_BODY = frozenset(("amount", "externalReference", "description", "webhookUrl", "payee"))
_PAYEE = frozenset(("name", "document", "destination"))
_PIX = frozenset(("type", "pixKeyType", "pixKey"))
_KEY_TYPES = {t.value: t for t in PixKeyType}


def plain_cash_out(data: Any, per_transaction_limit: Centavos) -> CashOutRequest | None:
    """The request a valid body paying a Pix key makes, read without pydantic; None for
    any other body, which ``CashOutIn`` then reads (and refuses, if it is bad). Each
    check is ``CashOutIn``'s, so what this takes pydantic takes alike."""
    if type(data) is not dict or not data.keys() <= _BODY:
        return None
    payee = data.get("payee")
    if type(payee) is not dict or payee.keys() != _PAYEE:
        return None
    destination = payee["destination"]
    if type(destination) is not dict or destination.keys() != _PIX:
        return None
    reference, name, document = data.get("externalReference"), payee["name"], payee["document"]
    given_type, key = destination["pixKeyType"], destination["pixKey"]
    key_type = _KEY_TYPES.get(given_type) if type(given_type) is str else None
    description, url = data.get("description"), data.get("webhookUrl")
    if (
        destination["type"] != "PIX"
        or key_type is None
        or type(key) is not str
        or len(key) > 77
        or type(reference) is not str
        or type(name) is not str
        or not 1 <= len(name) <= 120
        or not name.strip()
        or type(document) is not str
        or (description is not None and (type(description) is not str or len(description) > 140))
        or (url is not None and (type(url) is not str or len(url) > 2048 or not is_http_url(url)))
    ):
        return None
    try:
        amount = parse_amount(data.get("amount"))
        check_reference(reference)
        document_type(document)
        validate_pix_key(key_type, key)
    except ValueError:
        return None
    if amount > per_transaction_limit:
        return None
    return CashOutRequest(
        amount=amount,
        external_reference=reference,
        description=description,
        webhook_url=url,
        payee=Payee(name, document, PixDestination(key_type, key)),
    )
