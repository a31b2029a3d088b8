"""The rail port: what the settlement engine needs from a Pix network (DICT and SPI).

The default adapter is the simulated network in ``adapters.rails``; a real one would
speak BCB's APIs behind the same three calls. Every call is idempotent: ``submit`` is
keyed by ``PaymentOrder.idempotency_key``, derived from the cash-out id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from connectpsp.domain.cashout import Creditor
from connectpsp.domain.money import Centavos
from connectpsp.domain.pix import PixKeyType

__all__ = ["PaymentOrder", "Rail", "RailState", "RailStatus", "RailUnavailable", "submit_each"]


class RailUnavailable(Exception):
    """The rail did not answer, or its answer is unknown. Never a failure of the payment:
    the engine asks the rail again before it releases any funds."""


@dataclass(frozen=True)
class PaymentOrder:
    idempotency_key: str
    end_to_end_id: str
    amount: Centavos
    payer_ispb: str
    creditor: Creditor


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


class Rail(Protocol):
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


def submit_each(rail: Rail, orders: list[PaymentOrder]) -> list[RailStatus]:
    """``submit_many`` for a rail that can only take one payment at a time."""
    answers = []
    for order in orders:
        try:
            answers.append(rail.submit(order))
        except RailUnavailable:
            answers.append(RailStatus(RailState.UNKNOWN))
    return answers
