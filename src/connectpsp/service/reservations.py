"""A cash-out's reservations, as settlement resolves them: posted when the payment
settles, voided when it fails."""

from __future__ import annotations

from connectpsp.domain import ledger
from connectpsp.domain.cashout import CashOut
from connectpsp.domain.cashout_acceptance import fee_transfer_id
from connectpsp.domain.errors import LedgerViolation
from connectpsp.domain.ids import new_id
from connectpsp.domain.ledger import Transfer
from connectpsp.service.ports import UnitOfWork

__all__ = ["Reservations", "reserved_by"]


class Reservations:
    """The reservations one transaction may resolve, read together; the posts and voids
    it makes, written together by ``record``."""

    def __init__(self, uow: UnitOfWork, cash_outs: list[CashOut]) -> None:
        self.uow = uow
        self._held = uow.ledger.pending([i for c in cash_outs for i in reserved_by(c)])
        self._steps: list[Transfer] = []

    def resolve(self, cash_out: CashOut, *, post: bool) -> None:
        """Post (the amount to settlement, the fee to the PSP's fee account) or void
        (both back to the client's available balance) a cash-out's reservations."""
        for transfer_id in reserved_by(cash_out):
            reserved = self._held.get(transfer_id)
            if reserved is None:
                raise LedgerViolation(f"No pending transfer {transfer_id}.")
            step = ledger.post if post else ledger.void
            self._steps.append(step(reserved, new_id()))

    def record(self) -> None:
        self.uow.ledger.record(self._steps)
        self._steps = []


def reserved_by(cash_out: CashOut) -> list[str]:
    """The pending transfers a cash-out's acceptance made: its amount's, and its fee's."""
    return [cash_out.id, fee_transfer_id(cash_out.id)] if cash_out.fee else [cash_out.id]
