"""The fraud and risk checks' side of the service: how a cash-out's counterpart looks to
DICT's security information (a ``Screener``), and the record of decisions.

The rules themselves are pure (``domain.risk``), decided in the acceptance engine's
transaction with the balance check; what a screener finds is learnt before the request
is queued, so the decision itself costs no round trip."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Protocol

from connectpsp.domain.cashout import CashOutRequest, PixDestination
from connectpsp.domain.risk import Decision, Screening
from connectpsp.service.ports import UnitOfWorkFactory
from connectpsp.service.security import KeySecurity, SecurityCache, SecurityInfo

__all__ = ["DictScreener", "FailClosed", "RiskDecisions", "Screener"]

# What a screener that could not answer makes of a payee: marked.
UNKNOWN = Screening(payee_marked=True)


class Screener(Protocol):
    """What is known of a cash-out's counterpart before it is decided: one call. An
    external risk engine plugs in here."""

    def screen(self, request: CashOutRequest) -> Screening:
        """May wait on a look-up: called from a thread, never the event loop."""
        ...

    def remembered(self, request: CashOutRequest) -> Screening | None:
        """``screen``'s answer if it needs no look-up (a cache), else None."""
        ...


class DictScreener:
    """DICT's security information: a marker in force on the key, on the key's owner,
    or on the payee's document (a bank account's owner, as the request names it)."""

    def __init__(self, security: SecurityCache) -> None:
        self._security = security

    def screen(self, request: CashOutRequest) -> Screening:
        payee = self._security.owner_security(request.payee.document)
        destination = request.payee.destination
        if not isinstance(destination, PixDestination):
            return _screening(None, payee)
        return _screening(self._security.key_security(destination.key_type, destination.key), payee)

    def remembered(self, request: CashOutRequest) -> Screening | None:
        payee = request.payee
        destination = payee.destination
        if isinstance(destination, PixDestination):
            found = self._security.remembered_payee(
                payee.document, destination.key_type, destination.key
            )
        else:
            found = self._security.remembered_payee(payee.document)
        return None if found is None else _screening(found[1], found[0])


def _screening(key: KeySecurity | None, payee: SecurityInfo) -> Screening:
    """A key that resolves to nothing has no statistics: settlement fails it later."""
    if key is None:
        return _SCREENINGS[False, False, payee.marked]
    return _SCREENINGS[key.key.marked, key.owner.marked, payee.marked]


# Every screening there can be, made once: one is answered for every cash-out.
_SCREENINGS = {
    (k, o, p): Screening(key_marked=k, owner_marked=o, payee_marked=p)
    for k in (False, True)
    for o in (False, True)
    for p in (False, True)
}


class FailClosed:
    """A screener given ``timeout`` seconds: one that does not answer in time, or fails,
    refuses the cash-out (its payee is taken as marked) rather than letting it pass."""

    def __init__(self, screener: Screener, *, timeout: float, workers: int = 8) -> None:
        self._screener = screener
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="screener")

    def screen(self, request: CashOutRequest) -> Screening:
        try:
            return self._pool.submit(self._screener.screen, request).result(self._timeout)
        except Exception:  # a timeout or a failure: refused, never let through
            return UNKNOWN

    def remembered(self, request: CashOutRequest) -> Screening | None:
        return self._screener.remembered(request)


class RiskDecisions:
    """Every decision the checks made, for the operator."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def decisions(
        self, *, client_id: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[Decision]:
        with self._uow() as uow:
            return uow.risk.decisions(client_id=client_id, since=since, limit=limit)
