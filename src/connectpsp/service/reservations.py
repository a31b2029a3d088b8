"""A cash-out's reservations, as settlement resolves them: posted when the payment
settles, voided when it fails (and its share of the daily limit given back)."""

from __future__ import annotations

from datetime import date

from connectpsp.domain import ledger
from connectpsp.domain.cashout import CashOut
from connectpsp.domain.cashout_acceptance import fee_transfer_id
from connectpsp.domain.clock import business_date
from connectpsp.domain.errors import LedgerViolation
from connectpsp.domain.ids import derived_id
from connectpsp.domain.ledger import Transfer
from connectpsp.domain.money import Centavos
from connectpsp.service.ports import UnitOfWork

__all__ = ["Reservations", "reserved_by"]


class Reservations:
    """The reservations one transaction may resolve, read together; the posts and voids
    it makes, written together by ``record``."""

    def __init__(self, uow: UnitOfWork, cash_outs: list[CashOut]) -> None:
        self.uow = uow
        self._held = uow.ledger.pending([i for c in cash_outs for i in reserved_by(c)])
        self._steps: list[Transfer] = []
        self._unused: list[tuple[str, date, Centavos]] = []

    def resolve(self, cash_out: CashOut, *, post: bool) -> None:
        """Post (the amount to settlement, the fee to the PSP's fee account) or void
        (both back to the client's available balance, the amount to the day's limit) a
        cash-out's reservations."""
        for transfer_id in reserved_by(cash_out):
            reserved = self._held.get(transfer_id)
            if reserved is None:
                raise LedgerViolation(f"No pending transfer {transfer_id}.")
            # Derived: the step of a time-ordered transfer is added where it was.
            step, name = (ledger.post, "post") if post else (ledger.void, "void")
            self._steps.append(step(reserved, derived_id(transfer_id, name)))
        if not post:
            day = business_date(cash_out.requested_at)
            self._unused.append((cash_out.client_id, day, cash_out.amount))

    def record(self) -> None:
        """Write what was resolved: the accounts first, then the daily limits, the order
        acceptance locks them in. The other order deadlocks on PostgreSQL against a
        concurrent acceptance by the same client."""
        self.uow.ledger.record(self._steps)
        # One release per client and day, however many of its payments failed.
        released: dict[tuple[str, date], Centavos] = {}
        for client_id, day, amount in self._unused:
            released[client_id, day] = released.get((client_id, day), 0) + amount
        for (client_id, day), amount in sorted(released.items()):
            self.uow.limits.release_daily(client_id, day, amount)
        self._steps = []
        self._unused = []


def reserved_by(cash_out: CashOut) -> list[str]:
    """The pending transfers a cash-out's acceptance made: its amount's, and its fee's."""
    return [cash_out.id, fee_transfer_id(cash_out.id)] if cash_out.fee else [cash_out.id]
