"""The small interfaces the use cases need; adapters implement them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol

from connectpsp.domain.cashout import CashOut
from connectpsp.domain.clients import Client
from connectpsp.domain.events import Event
from connectpsp.domain.ledger import Balance, Transfer
from connectpsp.domain.money import Centavos
from connectpsp.domain.risk import Decision, RiskRules, Tally
from connectpsp.service.cashin_ports import (
    BlockRepository,
    CashInRepository,
    ChargeRepository,
    InfractionRepository,
    LocationKeyStore,
    PixKey,
    PixKeyRepository,
    RefundRepository,
    ReturnRepository,
    StoredLocationKey,
)
from connectpsp.service.webhook_ports import (
    BlockedUrl,
    ClientDelivery,
    SendResult,
    UrlGuard,
    WebhookRepository,
    WebhookSender,
)

__all__ = [
    "BlockRepository",
    "BlockedUrl",
    "CashInRepository",
    "CashOutRepository",
    "ChargeRepository",
    "Cipher",
    "ClientDelivery",
    "ClientRepository",
    "IdempotencyRepository",
    "InfractionRepository",
    "Job",
    "KeyRepository",
    "LedgerRepository",
    "LimitRepository",
    "LocationKeyStore",
    "Logger",
    "OutboxRepository",
    "PixKey",
    "PixKeyRepository",
    "PublishEvents",
    "RefundRepository",
    "ReturnRepository",
    "RiskRepository",
    "SecretHasher",
    "SendResult",
    "StoredLocationKey",
    "StoredOutcome",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UrlGuard",
    "WebhookRepository",
    "WebhookSender",
]


class Logger(Protocol):
    """Structured logging: an event name and fields (never secrets or documents)."""

    def debug(self, event: str, **fields: Any) -> Any: ...
    def info(self, event: str, **fields: Any) -> Any: ...
    def warning(self, event: str, **fields: Any) -> Any: ...
    def error(self, event: str, **fields: Any) -> Any: ...


class SecretHasher(Protocol):
    def hash(self, secret: str) -> str: ...
    def verify(self, stored: str, secret: str) -> bool: ...


class Cipher(Protocol):
    def encrypt(self, plaintext: str, *, context: str) -> str: ...
    def decrypt(self, ciphertext: str, *, context: str) -> str: ...


class ClientRepository(Protocol):
    def add(self, client: Client) -> None: ...
    def get(self, client_id: str, *, lock: bool = False) -> Client | None:
        """With ``lock``, the row stays locked until the end of the transaction."""
        ...

    def list(self) -> list[Client]: ...
    def update(self, client: Client) -> bool:
        """Write its name, fees and limits; False if there is no such client."""
        ...

    def set_risk(self, client_id: str, rules: RiskRules) -> bool:
        """Replace the client's own fraud limits; False if there is no such client."""
        ...

    def set_active(self, client_id: str, active: bool) -> bool:
        """False if there is no such client."""
        ...

    def set_secret(self, client_id: str, secret_hash: str, rotated_at: datetime) -> bool:
        """Replace its clientSecret's hash; False if there is no such client."""
        ...

    def generation(self) -> int:
        """A number each of the changes above raises, in its own transaction."""
        ...


class KeyRepository(Protocol):
    """Access-token signing keys, encrypted at rest."""

    def all(self) -> dict[str, str]: ...
    def add(self, kid: str, secret_enc: str, created_at: datetime) -> None: ...


class LedgerRepository(Protocol):
    def open_account(self, code: str, *, client_id: str | None, no_overdraft: bool) -> None: ...

    def lock_balances(self, codes: list[str]) -> dict[str, Balance]:
        """The balances of these overdraft-checked accounts, locked until the end of the
        transaction (FOR UPDATE on PostgreSQL; the write lock already on SQLite)."""
        ...

    def balances(self, codes: list[str]) -> dict[str, Balance]:
        """The balances of these overdraft-checked accounts, read in one statement, so
        from one snapshot: their parts add up, whatever commits meanwhile."""
        ...

    def pending(self, transfer_ids: list[str]) -> dict[str, Transfer]:
        """The pending transfers among these ids (resolved ones included)."""
        ...

    def record(self, transfers: list[Transfer]) -> None:
        """Write transfers the domain built (``domain.ledger``) and checked against a
        ``Book``; the database still refuses an overdraft, and ``LedgerViolation`` is a
        pending transfer resolved a second time."""
        ...

    def balance(self, code: str) -> Balance: ...

    def summed_balance(self, code: str) -> Balance:
        """The balance recomputed from transfers alone, for audits."""
        ...

    def account_codes(self) -> list[str]: ...


class CashOutRepository(Protocol):
    def add(self, cash_outs: list[CashOut]) -> None:
        """Insert; a reference or code taken meanwhile by a concurrent writer raises
        ``StorageConflict`` (the database's unique keys decide, under any race)."""
        ...

    def get(self, client_id: str, internal_code: str) -> CashOut | None: ...
    def by_external_reference(self, client_id: str, reference: str) -> CashOut | None: ...

    def references_taken(self, references: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (client id, externalReference) pairs are used already."""
        ...

    def by_id(self, cash_out_id: str) -> CashOut | None: ...
    def by_end_to_end_id(self, end_to_end_id: str, *, lock: bool = False) -> CashOut | None: ...
    def by_ids(self, cash_out_ids: list[str]) -> dict[str, CashOut]: ...

    def mark_submitted(self, cash_out: CashOut, at: datetime) -> bool:
        """Store that ``cash_out`` (as ``CashOut.submit`` made it) is about to be sent to
        the rail, and to whom; False if it already was (by another worker) or is no
        longer PROCESSING."""
        ...

    def mark_submitted_many(self, cash_outs: list[CashOut], at: datetime) -> set[str]:
        """``mark_submitted`` for each, in one statement; the ids it marked."""
        ...

    def finish(self, cash_out: CashOut, *, at: datetime, unsubmitted_only: bool = False) -> bool:
        """Store ``cash_out``'s terminal status (as the domain decided it) if it is still
        PROCESSING (and, with ``unsubmitted_only``, never sent); False, writing nothing,
        otherwise."""
        ...

    def finish_many(
        self, cash_outs: list[CashOut], *, at: datetime, unsubmitted_only: bool = False
    ) -> set[str]:
        """``finish`` for each, in one statement; the ids it moved."""
        ...


@dataclass(frozen=True)
class StoredOutcome:
    """The outcome of the first request with a key, replayed to every retry."""

    client_id: str
    key: str
    fingerprint: str  # SHA-256 of the canonical request: a different one is refused
    outcome: bytes  # the engine's record (JSON, encrypted when it holds a secret)


class IdempotencyRepository(Protocol):
    def find(self, slots: list[tuple[str, str]]) -> dict[tuple[str, str], StoredOutcome]:
        """The stored outcomes for these (client id, key) pairs, where there are any."""
        ...

    def store(self, outcomes: list[StoredOutcome], *, at: datetime) -> None:
        """Insert; a key stored meanwhile by a concurrent writer raises
        ``StorageConflict``."""
        ...

    def forget_before(self, cutoff: datetime) -> int:
        """Delete the outcomes stored before ``cutoff``; how many."""
        ...


class RiskRepository(Protocol):
    def tallies(
        self, client_ids: list[str], points: list[tuple[str, datetime]]
    ) -> tuple[dict[str, Tally], dict[tuple[str, datetime], Tally]]:
        """In one read: the running tally of each of ``client_ids`` that has decided
        anything; and for each (client id, moment) of ``points``, the client's tally as
        it stood just before the moment (its last decision's before then, or
        ``Tally()``). Read after the clients' balances were locked: a concurrent batch's
        decisions are all in, or none."""
        ...

    def paid(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (client id, payee document) pairs a cash-out was accepted for before."""
        ...

    def record(self, decisions: list[Decision]) -> None:
        """Keep the decisions, each client's last tally as its own, and each accepted
        one's payee as paid."""
        ...

    def decisions(
        self, *, client_id: str | None, since: datetime | None, limit: int
    ) -> list[Decision]:
        """The newest decisions first: those of one moment by client id, each client's
        latest first."""
        ...


class LimitRepository(Protocol):
    def lock_daily(self, client_ids: list[str], day: date) -> dict[str, Centavos]:
        """The day's usage of the clients that have any, locked until the end of the
        transaction."""
        ...

    def set_daily(self, day: date, usage: dict[str, Centavos], *, known: set[str]) -> None:
        """Write the day's new usage totals; ``known`` are the clients ``lock_daily``
        found (updated), the rest are inserted."""
        ...

    def release_daily(self, client_id: str, day: date, amount: Centavos) -> None: ...


@dataclass(frozen=True)
class Job:
    id: int
    topic: str
    ref: str
    payload: dict[str, Any]
    attempts: int  # claims so far, this one included
    failures: int  # consecutive runs that ended in an error (drives the backoff)


class OutboxRepository(Protocol):
    def enqueue(
        self, topic: str, jobs: list[tuple[str, dict[str, Any]]], *, available_at: datetime
    ) -> None:
        """One job per (ref, payload)."""
        ...

    def claim(self, topic: str, *, now: datetime, lease_until: datetime, limit: int) -> list[Job]:
        """Due, unleased jobs, leased to the caller until ``lease_until``. On PostgreSQL
        concurrent claimers skip each other's rows (FOR UPDATE SKIP LOCKED)."""
        ...

    def finish(self, job_id: int, *, at: datetime) -> None: ...
    def finish_many(self, job_ids: list[int], *, at: datetime) -> None: ...
    def defer(self, job_id: int, *, until: datetime, failed: bool) -> None:
        """Run again at ``until``; ``failed`` counts towards the backoff, else resets it."""
        ...

    def defer_many(self, deferrals: list[tuple[int, datetime, bool]]) -> None:
        """``defer`` for each (job id, until, failed), in one statement."""
        ...


class UnitOfWork(Protocol):
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

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def emit(self, event: Event) -> None:
        """Record that ``event`` happened; ``commit`` publishes it (queues its webhooks)
        in this same transaction."""
        ...

    def pipelined(self) -> AbstractContextManager[None]:
        """A block of writes that need no answer before its end: on a database over the
        network they go out together, one round trip. An error may surface at its end."""
        ...

    def commit(self) -> None: ...


# ``uow(write=True)`` opens a write transaction (BEGIN IMMEDIATE on SQLite).
UnitOfWorkFactory = Callable[..., UnitOfWork]
# Renders and queues a transaction's events inside it (``service.publisher``).
PublishEvents = Callable[[UnitOfWork, list[Event]], None]
