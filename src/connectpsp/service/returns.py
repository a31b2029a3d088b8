"""Returns of our cash-outs: the payee's bank sends money back (``service.rail.Inbound``'s
``returned``). One transaction: the return's record, the credit to the client, and the
events (``CASHOUT_RETURNED``, the ``CashOutReturn`` movement). The same return brought
twice (its returnId) is credited once; returns never add up to more than the cash-out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectpsp.domain.cashout import CashOut, CashOutStatus
from connectpsp.domain.cashout_payloads import return_movement_event, returned_event
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import StorageConflict
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.returns import CashOutReturn, CashOutReturned, ReturnReason, room_left
from connectpsp.domain.spi import ReasonCode
from connectpsp.service.ports import UnitOfWorkFactory
from connectpsp.service.publisher import Payloads, Publisher
from connectpsp.service.rail import IncomingReturn, Receipt

__all__ = ["CashOutReturns", "register_payloads"]

_ATTEMPTS = 3
# SPI's answer to a return it cannot take: the amount is more than is left (AM09, the
# wrong amount), or there is no such settled payment (AC03).
_TOO_MUCH = "AM09"


def register_payloads(publisher: Publisher, participants: ParticipantDirectory) -> None:
    def own(event: CashOutReturned, at: datetime) -> dict[str, Any]:
        return returned_event(event.cash_out, event.returned, event.returns, at)

    def movement(event: CashOutReturned, at: datetime) -> dict[str, Any]:
        return return_movement_event(event.cash_out, event.returned, at, participants)

    publisher.register(CashOutReturned, Payloads(own=own, movement=movement))


class CashOutReturns:
    def __init__(
        self, uow: UnitOfWorkFactory, *, clock: Clock, on_event: Callable[[], None] = lambda: None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._on_event = on_event

    def of(self, cash_out: CashOut) -> list[CashOutReturn]:
        with self._uow() as uow:
            return uow.returns.of_cash_outs([cash_out.id])[cash_out.id]

    def returned(self, back: IncomingReturn) -> Receipt:
        for attempt in range(_ATTEMPTS):
            try:
                receipt = self._returned(back)
            except StorageConflict:
                if attempt == _ATTEMPTS - 1:
                    raise
                continue
            if receipt.accepted:
                self._on_event()
            return receipt
        raise AssertionError("unreachable")

    def _returned(self, back: IncomingReturn) -> Receipt:
        if back.reason not in ReturnReason.__members__:
            return Receipt(False, ReasonCode.AG03.value)
        now = self._clock.now()
        with self._uow(write=True) as uow:
            if uow.returns.get(back.return_id) is not None:
                return Receipt(True)  # brought again: credited the first time
            # Locked: two returns of one cash-out are decided one after the other.
            cash_out = uow.cash_outs.by_end_to_end_id(back.end_to_end_id, lock=True)
            if cash_out is None or cash_out.status is not CashOutStatus.COMPLETED:
                return Receipt(False, ReasonCode.AC03.value)
            before = uow.returns.of_cash_outs([cash_out.id])[cash_out.id]
            if not 0 < back.amount <= room_left(cash_out, before):
                return Receipt(False, _TOO_MUCH)
            returned = CashOutReturn(
                back.return_id, cash_out.id, cash_out.client_id, back.amount, back.reason, now
            )
            uow.returns.add(returned)
            uow.ledger.record([returned.credit()])
            uow.emit(CashOutReturned(now, cash_out, returned, (*before, returned)))
            uow.commit()
        return Receipt(True)
