"""The rail port: the Pix network (DICT and SPI), both ways.

Outbound, what the settlement engine needs: ``lookup`` a key, ``submit`` payments and ask
their ``status``. Every call is idempotent: ``submit`` is keyed by
``PaymentOrder.idempotency_key``, derived from the cash-out id. A client's refund of a
Pix it received goes out as a return (pacs.004, ``ReturnRail.send_return``), keyed by
``ReturnOrder.idempotency_key``, derived from the refund's id.

Inbound, what the network brings to us: a Pix paid to one of our clients (pacs.008 to
our ISPB) and a payment we made sent back by the payee's PSP (pacs.004). The network
calls the ``Inbound`` it was ``connect``-ed to, and our answer (``Receipt``) is its
pacs.002: accepted, or rejected with a reason, and the money stays with the sender. A
network may deliver a message more than once: ``Inbound`` is idempotent by the
message's id (the ``endToEndId``, the ``returnId``).

The default adapter is the simulated network in ``adapters.rails``; a real one would
speak BCB's APIs behind the same calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from connectpsp.domain.cashout import Creditor
from connectpsp.domain.money import Centavos
from connectpsp.domain.pix import PixKeyType

__all__ = [
    "Inbound",
    "InboundRail",
    "IncomingPayment",
    "IncomingReturn",
    "Payer",
    "PaymentOrder",
    "Rail",
    "RailState",
    "RailStatus",
    "RailUnavailable",
    "Receipt",
    "ReturnOrder",
    "ReturnRail",
    "submit_each",
]


class RailUnavailable(Exception):
    """The rail did not answer, or its answer is unknown. Never a failure of the payment:
    the engine asks the rail again before it releases any funds."""


@dataclass(frozen=True)
class Payer:
    """Who sent the money: an account holder at another participant."""

    name: str
    document: str
    ispb: str
    branch: str | None = None
    account: str | None = None


@dataclass(frozen=True)
class PaymentOrder:
    idempotency_key: str
    end_to_end_id: str
    amount: Centavos
    payer_ispb: str
    creditor: Creditor
    # What a pacs.008 also carries: the key paid and the charge's txid (a BR Code), and
    # who pays (the receiver's records and webhooks name them).
    key: str | None = None
    txid: str | None = None
    debtor: Payer | None = None


@dataclass(frozen=True)
class ReturnOrder:
    """A Pix we received, sent back (in whole or in part) to whoever paid it."""

    idempotency_key: str
    return_id: str  # "D" + our ISPB + yyyyMMddHHmm (UTC) + 11 characters
    end_to_end_id: str  # the payment it returns
    amount: Centavos
    reason: str  # MD06 (refund), SL02 (withdrawal), FR01 (fraud)
    returner_ispb: str  # us
    payer: Payer  # who paid the original, and gets this back


class RailState(StrEnum):
    NOT_FOUND = "NOT_FOUND"  # the rail has never seen this payment
    PENDING = "PENDING"
    SETTLED = "SETTLED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"  # in a batch answer: this payment's answer was lost; ask again


@dataclass(frozen=True)
class RailStatus:
    state: RailState
    end_to_end_id: str | None = None
    settled_at: datetime | None = None
    # For REJECTED: the pacs.002 reason code exactly as the rail sent it. Any text: a code
    # outside ``domain.spi.ReasonCode`` fails the payment as PAYMENT_FAILED, kept raw.
    reason: str | None = None
    check_again_at: datetime | None = None  # for PENDING: when settlement is due


@dataclass(frozen=True)
class IncomingPayment:
    """A Pix the network brings to us."""

    end_to_end_id: str
    amount: Centavos
    payer: Payer
    key: str | None  # the Pix key it was paid to (by key, or by a QR code's key)
    txid: str | None  # the charge it pays, when it comes from a QR code
    paid_at: datetime


@dataclass(frozen=True)
class IncomingReturn:
    """A payment we made, sent back (in whole or in part) by the payee's PSP."""

    return_id: str  # "D" + the returner's ISPB + yyyyMMddHHmm + 11 characters
    end_to_end_id: str  # the payment it returns
    amount: Centavos
    reason: str  # MD06 (refund), BE08 (bank error), FR01 (fraud), SL02 (withdrawal)
    returned_at: datetime


@dataclass(frozen=True)
class Receipt:
    """Our answer to an incoming message: accepted, or rejected with a reason code."""

    accepted: bool
    reason: str | None = None


class Inbound(Protocol):
    """Our side of the network's inbound messages."""

    def receive(self, payment: IncomingPayment) -> Receipt: ...

    def returned(self, back: IncomingReturn) -> Receipt: ...


class Rail(Protocol):
    """The rail outbound: what settlement asks of it."""

    def lookup(self, key_type: PixKeyType, key: str) -> Creditor | None:
        """DICT: the account a key points to, or None if it resolves to nothing."""
        ...

    def submit(self, order: PaymentOrder) -> RailStatus:
        """SPI: pay once per idempotency key; a repeat returns the first payment's status."""
        ...

    def submit_many(self, orders: list[PaymentOrder]) -> list[RailStatus]:
        """``submit`` for each order, in order; a lost answer is ``UNKNOWN`` rather than
        an error, so one lost answer does not hide the others. ``RailUnavailable`` if
        the rail answers none of them."""
        ...

    def status(self, idempotency_key: str) -> RailStatus: ...


class ReturnRail(Protocol):
    """SPI's returns: send back a Pix we received."""

    def send_return(self, order: ReturnOrder) -> RailStatus:
        """Return once per idempotency key; a repeat answers the first return's status
        (``PENDING`` until due, then ``SETTLED`` or ``REJECTED`` with a reason).
        ``RailUnavailable`` when no answer came: asking again is safe."""
        ...


class InboundRail(Protocol):
    """The rail's other direction: where it delivers what it brings to us."""

    def connect(self, inbound: Inbound) -> None:
        """Deliver incoming payments and returns to ``inbound`` from now on."""
        ...


def submit_each(rail: Rail, orders: list[PaymentOrder]) -> list[RailStatus]:
    """``submit_many`` for a rail that can only take one payment at a time."""
    answers = []
    for order in orders:
        try:
            answers.append(rail.submit(order))
        except RailUnavailable:
            answers.append(RailStatus(RailState.UNKNOWN))
    return answers
