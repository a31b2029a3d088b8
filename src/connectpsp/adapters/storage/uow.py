"""The SQL unit of work: one transaction with every repository bound to it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType
from typing import Any

from connectpsp.adapters.storage.cashins import (
    SqlBlocks,
    SqlCashIns,
    SqlCharges,
    SqlPixKeys,
    SqlReturns,
)
from connectpsp.adapters.storage.cashouts import SqlCashOuts
from connectpsp.adapters.storage.clients import SqlClients, SqlKeys
from connectpsp.adapters.storage.db import Database, Transaction
from connectpsp.adapters.storage.idempotency import SqlIdempotency
from connectpsp.adapters.storage.infractions import SqlInfractions
from connectpsp.adapters.storage.ledger import AccountCache, SqlLedger
from connectpsp.adapters.storage.limits import SqlLimits
from connectpsp.adapters.storage.outbox import SqlOutbox
from connectpsp.adapters.storage.pipeline import pipelined
from connectpsp.adapters.storage.refunds import SqlRefunds
from connectpsp.adapters.storage.risk import SqlRisk
from connectpsp.adapters.storage.webhooks import SqlWebhooks
from connectpsp.domain.events import Event
from connectpsp.service.ports import (
    BlockRepository,
    CashInRepository,
    CashOutRepository,
    ChargeRepository,
    ClientRepository,
    IdempotencyRepository,
    InfractionRepository,
    KeyRepository,
    LedgerRepository,
    LimitRepository,
    OutboxRepository,
    PixKeyRepository,
    PublishEvents,
    RefundRepository,
    ReturnRepository,
    RiskRepository,
    WebhookRepository,
)

__all__ = ["Committed", "SqlUnitOfWork", "sql_unit_of_work_factory"]

# Told the events of each transaction once it has committed (logs and metrics).
Committed = Callable[[Sequence[Event]], None]


def _nobody(_: Sequence[Event]) -> None:
    return None


class SqlUnitOfWork:
    """A transaction with the repositories bound to it. Rolls back unless committed; a
    commit first publishes the events recorded in it, so they commit together, then
    tells ``committed`` of them."""

    clients: ClientRepository
    keys: KeyRepository
    ledger: LedgerRepository
    cash_outs: CashOutRepository
    charges: ChargeRepository
    cash_ins: CashInRepository
    pix_keys: PixKeyRepository
    blocks: BlockRepository
    returns: ReturnRepository
    refunds: RefundRepository
    infractions: InfractionRepository
    idempotency: IdempotencyRepository
    limits: LimitRepository
    risk: RiskRepository
    outbox: OutboxRepository
    webhooks: WebhookRepository

    def __init__(
        self,
        db: Database,
        now: datetime,
        cache: AccountCache,
        publish: PublishEvents,
        *,
        write: bool,
        committed: Committed = _nobody,
    ) -> None:
        self._tx: Transaction = db.transaction(write=write)
        self._now = now
        self._cache = cache
        self._publish = publish
        self._committed = committed
        self._events: list[Event] = []

    def __enter__(self) -> SqlUnitOfWork:
        self._tx.__enter__()
        conn = self._tx.conn
        self.connection = conn
        self.clients = SqlClients(conn)
        self.keys = SqlKeys(conn)
        self.ledger = SqlLedger(conn, self._now, self._cache)
        self.cash_outs = SqlCashOuts(conn)
        self.charges = SqlCharges(conn)
        self.cash_ins = SqlCashIns(conn)
        self.pix_keys = SqlPixKeys(conn)
        self.blocks = SqlBlocks(conn)
        self.returns = SqlReturns(conn)
        self.refunds = SqlRefunds(conn)
        self.infractions = SqlInfractions(conn)
        self.idempotency = SqlIdempotency(conn)
        self.limits = SqlLimits(conn)
        self.risk = SqlRisk(conn)
        self.outbox = SqlOutbox(conn)
        self.webhooks = self._webhooks = SqlWebhooks(conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._tx.__exit__(exc_type, exc_value, tb)

    def emit(self, event: Event) -> None:
        self._events.append(event)

    def pipelined(self) -> AbstractContextManager[None]:
        return pipelined(self._tx.conn)

    def commit(self) -> None:
        events, self._events = self._events, []
        if events:
            self._publish(self, events)
        self._webhooks.flush()  # the deliveries queued, in one insert
        self._tx.commit()
        if events:
            self._committed(events)


def sql_unit_of_work_factory(
    db: Database, clock: Any, publish: PublishEvents, committed: Committed = _nobody
) -> Any:
    """``factory(write=...)`` -> a fresh ``SqlUnitOfWork`` stamped with the clock's now,
    whose events ``publish`` renders at commit and ``committed`` is told of after it."""
    cache = AccountCache()

    def factory(*, write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(db, clock.now(), cache, publish, write=write, committed=committed)

    return factory
