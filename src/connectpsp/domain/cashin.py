"""Cash-in: charges a client creates for its customers to pay (a BR Code), and the Pix
it receives, by a charge's code or straight to one of its keys.

A ``DYNAMIC`` charge asks for one amount once, until it expires: its code names a
location where the payer's PSP reads the charge (``txid``, amount, expiry). A ``STATIC``
code carries its key and txid itself and may be paid many times, with or without a set
amount. A Pix sent to a client's key with no txid pays no charge: it is a cash-in all
the same.

A received Pix credits the client its amount less the cash-in fee, in one transaction
with the payment's record and the charge's new status (``credit_transfers``).
"""

from __future__ import annotations

import functools
import secrets
import string
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

import connectpsp.brcode as brcode
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import ConnectPSPError, IllegalTransition
from connectpsp.domain.events import Event
from connectpsp.domain.ids import derived_id, new_id, new_internal_code, new_location_id
from connectpsp.domain.ledger import (
    PSP_FEES,
    PSP_SETTLEMENT,
    FeePlan,
    Transfer,
    client_account_code,
    single,
)
from connectpsp.domain.money import Centavos, to_decimal

__all__ = [
    "DEFAULT_EXPIRES_IN",
    "MAX_DESCRIPTION",
    "MAX_EXPIRES_IN",
    "AmountMismatch",
    "CashIn",
    "CashInPayer",
    "CashInReceived",
    "Charge",
    "ChargeExpired",
    "ChargeNotPayable",
    "ChargeRequest",
    "ChargeStatus",
    "ChargeType",
    "cash_in_fee",
    "credit_transfers",
    "new_charge",
    "new_txid",
]

DEFAULT_EXPIRES_IN = 86_400  # a day, as BCB's API Pix defaults ``expiracao``
MAX_EXPIRES_IN = 365 * 86_400
MAX_DESCRIPTION = 140  # BCB's ``solicitacaoPagador``

_TXID_ALPHABET = string.ascii_letters + string.digits
DYNAMIC_TXID_LENGTH = 32  # BCB: 26 to 35 characters for a charge with a location
STATIC_TXID_LENGTH = 25  # the most a static code's field 62/05 holds


class ChargeType(StrEnum):
    DYNAMIC = "DYNAMIC"
    STATIC = "STATIC"


class ChargeStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"  # a dynamic charge, paid
    EXPIRED = "EXPIRED"  # a dynamic charge, unpaid when its time ran out
    CANCELLED = "CANCELLED"  # by the client, while ACTIVE


class ChargeNotPayable(ConnectPSPError):
    """A payment to a charge that takes no more: ``details["status"]`` says why."""

    code = "CHARGE_NOT_PAYABLE"
    default_message = "This charge cannot be paid."


class AmountMismatch(ConnectPSPError):
    code = "AMOUNT_MISMATCH"
    default_message = "The amount paid differs from the charge's."


def new_txid(charge_type: ChargeType) -> str:
    """A random txid of BCB's alphabet ``[a-zA-Z0-9]``; uniqueness is the database's."""
    length = DYNAMIC_TXID_LENGTH if charge_type is ChargeType.DYNAMIC else STATIC_TXID_LENGTH
    return "".join(secrets.choice(_TXID_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class CashInPayer:
    """Who paid: an account holder at a Pix participant (``ispb``)."""

    name: str
    document: str
    ispb: str


@dataclass(frozen=True)
class ChargeRequest:
    """A charge as the client asked for it, validated (``api.schemas``)."""

    type: ChargeType
    amount: Centavos | None  # required for DYNAMIC; a STATIC code without one lets the payer choose
    external_reference: str
    description: str | None = None
    expires_in: int | None = None  # seconds; DYNAMIC only
    payer_name: str | None = None  # for information: who the client expects to pay
    payer_document: str | None = None
    webhook_url: str | None = None


@dataclass(frozen=True)
class Charge:
    id: str
    internal_code: str
    client_id: str
    txid: str
    external_reference: str
    type: ChargeType
    status: ChargeStatus
    amount: Centavos | None
    description: str | None
    pix_key: str  # the client's key the code pays
    location_id: str | None  # DYNAMIC: where the payer's PSP reads the charge
    br_code: str
    expires_at: datetime | None  # DYNAMIC only
    created_at: datetime
    updated_at: datetime
    webhook_url: str | None = None
    payer_name: str | None = None
    payer_document: str | None = None

    @property
    def expires_in(self) -> int | None:
        if self.expires_at is None:
            return None
        return round((self.expires_at - self.created_at).total_seconds())

    def refusal_of(self, amount: Centavos, now: datetime) -> ConnectPSPError | None:
        """Why this charge cannot take ``amount`` now, or None: a dynamic charge takes
        its own amount once, before it expires; a static one, its amount if it sets one,
        any amount otherwise, until cancelled."""
        if self.status is ChargeStatus.ACTIVE and self.expired(now):
            return ChargeNotPayable("This charge has expired.", {"status": "EXPIRED"})
        if self.status is not ChargeStatus.ACTIVE:
            messages = {
                ChargeStatus.COMPLETED: "This charge has been paid already.",
                ChargeStatus.EXPIRED: "This charge has expired.",
                ChargeStatus.CANCELLED: "This charge was cancelled.",
            }
            return ChargeNotPayable(messages[self.status], {"status": self.status.value})
        if self.amount is not None and amount != self.amount:
            return AmountMismatch(
                "The amount paid differs from the charge's.",
                {"expected": str(to_decimal(self.amount)), "paid": str(to_decimal(amount))},
            )
        return None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def paid(self, at: datetime) -> Charge:
        """The charge once a payment was accepted: a dynamic charge is done."""
        if self.type is ChargeType.STATIC:
            return replace(self, updated_at=at)
        return self._to(ChargeStatus.COMPLETED, at)

    def cancel(self, at: datetime) -> Charge:
        return self._to(ChargeStatus.CANCELLED, at)

    def expire(self, at: datetime) -> Charge:
        return self._to(ChargeStatus.EXPIRED, at)

    def _to(self, status: ChargeStatus, at: datetime) -> Charge:
        if self.status is not ChargeStatus.ACTIVE:
            raise IllegalTransition(
                f"The charge is {self.status.value}; only an ACTIVE charge can become "
                f"{status.value}.",
                {"status": self.status.value},
            )
        return replace(self, status=status, updated_at=at)


@dataclass(frozen=True)
class CashIn:
    """A Pix received and credited: to a charge (``charge_id``), or to a key alone."""

    end_to_end_id: str
    client_id: str
    charge_id: str | None
    amount: Centavos
    fee: Centavos
    pix_key: str | None
    txid: str | None
    payer: CashInPayer
    paid_at: datetime  # when SPI settled it
    received_at: datetime  # when we credited it

    @property
    def net_amount(self) -> Centavos:
        return self.amount - self.fee


def cash_in_fee(plan: FeePlan, amount: Centavos) -> Centavos:
    """The fee on a received amount, never more than the amount: a received Pix never
    leaves the client owing."""
    return min(plan.fee_for(amount), amount)


def credit_transfers(cash_in: CashIn) -> list[Transfer]:
    """The received amount into the client's account from our settlement account, and
    the fee from it to our fees. Their ids derive from the endToEndId, so the same Pix
    delivered twice cannot be credited twice (the ledger's ids are unique)."""
    account = client_account_code(cash_in.client_id)
    ref = cash_in.end_to_end_id
    transfers = [
        single(
            derived_id(ref, "cash_in"),
            debit=PSP_SETTLEMENT,
            credit=account,
            amount=cash_in.amount,
            code="cash_in",
            ref=ref,
        )
    ]
    if cash_in.fee:
        transfers.append(
            single(
                derived_id(ref, "cash_in_fee"),
                debit=account,
                credit=PSP_FEES,
                amount=cash_in.fee,
                code="cash_in_fee",
                ref=ref,
            )
        )
    return transfers


def new_charge(
    client: Client, request: ChargeRequest, pix_key: str, location_base: str, now: datetime
) -> Charge:
    """A new ACTIVE charge and its BR Code. A dynamic code names its location
    (``location_base`` + ``/qr/`` + 32 hex digits, without scheme) and carries no txid of its
    own (``***``): the payer's PSP reads txid, amount and expiry there. A static code
    carries key, txid and, when set, the amount."""
    charge_id = new_id()
    txid = new_txid(request.type)
    dynamic = request.type is ChargeType.DYNAMIC
    location_id = new_location_id() if dynamic else None
    code = functools.partial(
        brcode.encode,
        merchant_name=client.name,
        merchant_city=client.merchant_city,
        pix_key=None if dynamic else pix_key,
        url=f"{location_base}/qr/{location_id}" if dynamic else None,
        amount=None if dynamic else request.amount,
        txid=brcode.NO_TXID if dynamic else txid,
    )
    try:
        br_code = code(description=None if dynamic else request.description)
    except brcode.BrCodeError:
        # Field 26 holds 99 bytes in all: a long text beside a long key does not fit in
        # a static code. The charge keeps it; the code goes without.
        br_code = code()
    return Charge(
        id=charge_id,
        internal_code=new_internal_code(),
        client_id=client.id,
        txid=txid,
        external_reference=request.external_reference,
        type=request.type,
        status=ChargeStatus.ACTIVE,
        amount=request.amount,
        description=request.description,
        pix_key=pix_key,
        location_id=location_id,
        br_code=br_code,
        expires_at=(
            now + timedelta(seconds=request.expires_in or DEFAULT_EXPIRES_IN) if dynamic else None
        ),
        created_at=now,
        updated_at=now,
        webhook_url=request.webhook_url,
        payer_name=request.payer_name,
        payer_document=request.payer_document,
    )


@dataclass(frozen=True)
class CashInReceived(Event):
    """A Pix was credited: to ``charge`` (as it is after the payment), or to a key."""

    cash_in: CashIn
    charge: Charge | None

    type: ClassVar[str] = "CASHIN_COMPLETED"
    subject_kind: ClassVar[str] = "cash_in"

    @property
    def subject_id(self) -> str:
        return self.cash_in.end_to_end_id

    @property
    def client_id(self) -> str:
        return self.cash_in.client_id

    @property
    def webhook_url(self) -> str | None:
        return self.charge.webhook_url if self.charge else None


@dataclass(frozen=True)
class ChargeExpired(Event):
    """A dynamic charge's time ran out before anyone paid it."""

    charge: Charge

    type: ClassVar[str] = "CASHIN_EXPIRED"
    subject_kind: ClassVar[str] = "charge"

    @property
    def subject_id(self) -> str:
        return self.charge.id

    @property
    def client_id(self) -> str:
        return self.charge.client_id

    @property
    def webhook_url(self) -> str | None:
        return self.charge.webhook_url
