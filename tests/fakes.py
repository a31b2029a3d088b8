"""In-memory fakes of the ports, for use-case tests that run in milliseconds.

Hand-written and small, as cosmicpython's ``FakeUnitOfWork`` and ``FakeRepository``
(``tests/unit/test_handlers.py``): they implement the Protocols of ``service/ports.py``
and ``service/rail.py`` for what the use cases call, and keep the rules the database's
constraints would keep, so a use case cannot pass here and break on a real database:

- ``FakeDatabase`` holds the committed tables and is the ``uow(write=...)`` factory. A unit
  of work works on a copy taken when it starts; ``commit`` publishes the events it
  collected and makes the copy the committed state; leaving without a commit discards
  the copy (a rollback). Writers are serializable: a commit after another writer's
  commit raises ``StorageConflict``, as a key taken meanwhile or a serialization failure
  does on PostgreSQL, and the caller runs again on what the other left.
- Unique keys (ids, references, idempotency keys, a day's usage row, endToEndIds) raise
  ``StorageConflict``; a pending transfer resolved a second time is ``LedgerViolation``;
  an overdraft or a negative total is ``CheckViolation`` (the CHECKs).
- ``FakeRail`` is DICT and SPI in memory: keys a test registers, payments by idempotency
  key, settled at once unless a test says otherwise, and a log of every call.
- ``FixedClock`` moves only when a test moves it.

``fake_services`` wires the real use cases to these, as ``bootstrap.build`` wires them to
SQL and the simulated network. The webhook dispatcher's repository calls are not faked:
the dispatcher's rules are about leases and time on a real database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from connectpsp.adapters import payload_json
from connectpsp.adapters.crypto import AesGcmCipher
from connectpsp.domain.blocks import Block
from connectpsp.domain.cashin import CashIn, Charge, ChargeStatus
from connectpsp.domain.cashout import (
    CashOut,
    CashOutRequest,
    CashOutStatus,
    Creditor,
    Payee,
    PixDestination,
)
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import ConnectPSPError, LedgerViolation, StorageConflict
from connectpsp.domain.events import Event
from connectpsp.domain.infractions import Infraction, InfractionStatus
from connectpsp.domain.ledger import (
    PSP_FEES,
    PSP_SETTLEMENT,
    WORLD,
    Balance,
    FeePlan,
    Transfer,
    TransferKind,
)
from connectpsp.domain.money import Centavos
from connectpsp.domain.participants import Participant, ParticipantDirectory
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.domain.refunds import Refund, RefundStatus
from connectpsp.domain.returns import CashOutReturn
from connectpsp.domain.risk import Decision, RiskRules, Screening, Tally
from connectpsp.domain.webhooks import (
    AttemptResult,
    DeliveryStatus,
    DeliveryTask,
    DeliveryView,
    DueDelivery,
    Endpoint,
    Message,
    MessageShape,
)
from connectpsp.service.acceptance import AcceptanceEngine, Submission
from connectpsp.service.cashouts import CashOutService, register_payloads
from connectpsp.service.clients import ClientService
from connectpsp.service.endpoints import WebhookEndpoints
from connectpsp.service.ports import (
    BlockedUrl,
    BlockRepository,
    CashInRepository,
    CashOutRepository,
    ChargeRepository,
    ClientDelivery,
    ClientRepository,
    IdempotencyRepository,
    InfractionRepository,
    Job,
    KeyRepository,
    LedgerRepository,
    LimitRepository,
    OutboxRepository,
    PixKey,
    PixKeyRepository,
    PublishEvents,
    RefundRepository,
    ReturnRepository,
    RiskRepository,
    StoredOutcome,
    UnitOfWork,
    WebhookRepository,
)
from connectpsp.service.publisher import Publisher
from connectpsp.service.rail import PaymentOrder, RailState, RailStatus, RailUnavailable
from connectpsp.service.settlement import SettlementService

__all__ = [
    "MARIA",
    "PAYEE",
    "CheckViolation",
    "FakeDatabase",
    "FakeGuard",
    "FakeHasher",
    "FakeRail",
    "FakeUnitOfWork",
    "FixedClock",
    "Services",
    "Tables",
    "fake_services",
    "one_batch",
    "request",
]


class CheckViolation(Exception):
    """A CHECK constraint refused a write (an ``IntegrityError`` from the database): a
    bug in the caller, never a race, so nobody retries it."""


class FixedClock:
    """Time that moves only when a test moves it (a weekday, 12:00 in São Paulo)."""

    def __init__(self, start: datetime = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, **kwargs: float) -> None:
        self._now += timedelta(**kwargs)


# --- the tables -------------------------------------------------------------------------

_ZERO = Balance(0, 0, 0, 0)


@dataclass(frozen=True)
class AccountRow:
    client_id: str | None
    no_overdraft: bool
    totals: Balance  # running totals: kept for overdraft-checked accounts only


@dataclass(frozen=True)
class JobRow:
    id: int
    topic: str
    ref: str
    payload: str  # JSON, as stored
    available_at: datetime
    attempts: int = 0
    failures: int = 0
    locked_until: datetime | None = None
    done_at: datetime | None = None


@dataclass(frozen=True)
class EndpointRow:
    endpoint: Endpoint  # ``enabled`` is False once disabled
    disabled_reason: str | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class DeliveryRow:
    id: str
    message_id: str
    client_id: str
    endpoint_id: str | None
    url: str
    status: DeliveryStatus
    next_attempt_at: datetime
    created_at: datetime
    locked_until: datetime | None = None


@dataclass
class Tables:
    """The database's rows. Every row is immutable, so copying the dicts and lists copies
    it all."""

    clients: dict[str, Client] = field(default_factory=dict)
    client_changes: list[str] = field(default_factory=list)  # ids, one per change
    signing_keys: dict[str, str] = field(default_factory=dict)  # kid -> secret_enc
    accounts: dict[str, AccountRow] = field(default_factory=dict)  # by code, in id order
    transfers: dict[str, Transfer] = field(default_factory=dict)
    cash_outs: dict[str, CashOut] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    cash_ins: dict[str, CashIn] = field(default_factory=dict)  # by endToEndId
    pix_keys: dict[str, PixKey] = field(default_factory=dict)
    blocks: dict[str, Block] = field(default_factory=dict)
    returns: dict[str, CashOutReturn] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    infractions: dict[str, Infraction] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], tuple[StoredOutcome, datetime]] = field(default_factory=dict)
    daily_usage: dict[tuple[str, date], Centavos] = field(default_factory=dict)
    jobs: dict[int, JobRow] = field(default_factory=dict)
    endpoints: dict[str, EndpointRow] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    deliveries: dict[str, DeliveryRow] = field(default_factory=dict)
    decisions: dict[str, Decision] = field(default_factory=dict)
    payees: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (client, payee)
    risk_totals: dict[str, Tally] = field(default_factory=dict)  # by client id
    version: int = 0  # commits so far

    def copy(self) -> Tables:
        copied = Tables(version=self.version)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dict | list):
                setattr(copied, f.name, value.copy())
        return copied


def _taken(what: str, key: object) -> StorageConflict:
    return StorageConflict(f"{what} {key!r} is taken (a unique key).")


# --- the repositories -------------------------------------------------------------------


class FakeClients:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def add(self, client: Client) -> None:
        if client.id in self._t.clients:
            raise _taken("client", client.id)
        self._t.clients[client.id] = client

    def get(self, client_id: str, *, lock: bool = False) -> Client | None:
        return self._t.clients.get(client_id)

    def update(self, client: Client) -> bool:
        found = self._t.clients.get(client.id)
        if found is None:
            return False
        self._t.client_changes.append(client.id)
        self._t.clients[client.id] = replace(
            found,
            name=client.name,
            fee_plan=client.fee_plan,
            cash_in_fee_plan=client.cash_in_fee_plan,
            per_transaction_limit=client.per_transaction_limit,
            daily_limit=client.daily_limit,
            risk=client.risk,
        )
        return True

    def set_active(self, client_id: str, active: bool) -> bool:
        found = self._t.clients.get(client_id)
        if found is None:
            return False
        self._t.client_changes.append(client_id)
        self._t.clients[client_id] = replace(found, active=active)
        return True

    def set_risk(self, client_id: str, rules: RiskRules) -> bool:
        found = self._t.clients.get(client_id)
        if found is None:
            return False
        self._t.client_changes.append(client_id)
        self._t.clients[client_id] = replace(found, risk=rules)
        return True

    def set_secret(self, client_id: str, secret_hash: str, rotated_at: datetime) -> bool:
        found = self._t.clients.get(client_id)
        if found is None:
            return False
        self._t.client_changes.append(client_id)
        self._t.clients[client_id] = replace(
            found, secret_hash=secret_hash, secret_rotated_at=rotated_at
        )
        return True

    def list(self) -> list[Client]:
        return sorted(self._t.clients.values(), key=lambda c: c.created_at)

    def generation(self) -> int:
        return len(self._t.client_changes)


class FakeKeys:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def all(self) -> dict[str, str]:
        return dict(self._t.signing_keys)

    def add(self, kid: str, secret_enc: str, created_at: datetime) -> None:
        self._t.signing_keys.setdefault(kid, secret_enc)  # ON CONFLICT DO NOTHING


class FakeLedger:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def open_account(self, code: str, *, client_id: str | None, no_overdraft: bool) -> None:
        self._t.accounts.setdefault(code, AccountRow(client_id, no_overdraft, _ZERO))

    def lock_balances(self, codes: list[str]) -> dict[str, Balance]:
        rows = {code: self._t.accounts.get(code) for code in codes}
        return {code: row.totals for code, row in rows.items() if row and row.no_overdraft}

    def balances(self, codes: list[str]) -> dict[str, Balance]:
        return self.lock_balances(codes)

    def pending(self, transfer_ids: list[str]) -> dict[str, Transfer]:
        found = {i: self._t.transfers.get(i) for i in transfer_ids}
        return {i: t for i, t in found.items() if t and t.kind is TransferKind.PENDING}

    def record(self, transfers: list[Transfer]) -> None:
        """All or nothing, with the database's rules: a transfer id once, a pending
        transfer resolved once, accounts that exist, and the CHECKs on the totals."""
        added: dict[str, Transfer] = {}
        resolved = {t.pending_id for t in self._t.transfers.values() if t.pending_id}
        totals: dict[str, Balance] = {}
        for transfer in transfers:
            if transfer.id in self._t.transfers or transfer.id in added:
                raise _taken("transfer", transfer.id)
            held = transfer.pending_id
            if held is not None:
                if held not in self._t.transfers and held not in added:
                    raise LedgerViolation(f"No pending transfer {held}.")
                if held in resolved:
                    raise LedgerViolation("A pending transfer is already resolved.")
                resolved.add(held)
            for code, debited in ((transfer.debit, True), (transfer.credit, False)):
                row = self._t.accounts.get(code)
                if row is None:
                    raise LedgerViolation(f"No ledger account {code!r}.")
                if row.no_overdraft:
                    before = totals.get(code, row.totals)
                    totals[code] = before.after(transfer, debited=debited)
            added[transfer.id] = transfer
        for code, b in totals.items():
            if min(b.credits_posted, b.debits_posted, b.debits_pending, b.credits_pending) < 0:
                raise CheckViolation(f"A total of {code} would go below zero.")
            if b.debits_posted + b.debits_pending > b.credits_posted:
                raise CheckViolation(f"{code} would be overdrawn.")
        self._t.transfers.update(added)
        for code, balance in totals.items():
            self._t.accounts[code] = replace(self._t.accounts[code], totals=balance)

    def balance(self, code: str) -> Balance:
        row = self._t.accounts.get(code)
        if row is None:
            raise LedgerViolation(f"No ledger account {code!r}.")
        return row.totals if row.no_overdraft else self.summed_balance(code)

    def summed_balance(self, code: str) -> Balance:
        if code not in self._t.accounts:
            raise LedgerViolation(f"No ledger account {code!r}.")
        resolved = {t.pending_id for t in self._t.transfers.values() if t.pending_id}
        sums = dict.fromkeys(("cp", "dp", "dh", "ch"), 0)
        for t in self._t.transfers.values():
            posted = t.kind in (TransferKind.SINGLE, TransferKind.POST_PENDING)
            held = t.kind is TransferKind.PENDING and t.id not in resolved
            for side, posted_key, held_key in ((t.credit, "cp", "ch"), (t.debit, "dp", "dh")):
                if side == code:
                    sums[posted_key] += t.amount if posted else 0
                    sums[held_key] += t.amount if held else 0
        return Balance(sums["cp"], sums["dp"], sums["dh"], sums["ch"])

    def account_codes(self) -> list[str]:
        return list(self._t.accounts)


class FakeCashOuts:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def add(self, cash_outs: list[CashOut]) -> None:
        rows = self._t.cash_outs
        codes = {c.internal_code for c in rows.values()}
        references = {(c.client_id, c.external_reference) for c in rows.values()}
        for cash_out in cash_outs:
            reference = (cash_out.client_id, cash_out.external_reference)
            for what, key, taken in (
                ("cash-out", cash_out.id, rows),
                ("internal code", cash_out.internal_code, codes),
                ("reference", reference, references),
            ):
                if key in taken:
                    raise _taken(what, key)
            codes.add(cash_out.internal_code)
            references.add(reference)
        rows.update({c.id: c for c in cash_outs})

    def get(self, client_id: str, internal_code: str) -> CashOut | None:
        return next(
            (
                c
                for c in self._t.cash_outs.values()
                if c.internal_code == internal_code and c.client_id == client_id
            ),
            None,
        )

    def by_external_reference(self, client_id: str, reference: str) -> CashOut | None:
        return next(
            (
                c
                for c in self._t.cash_outs.values()
                if c.client_id == client_id and c.external_reference == reference
            ),
            None,
        )

    def references_taken(self, references: list[tuple[str, str]]) -> set[tuple[str, str]]:
        taken = {(c.client_id, c.external_reference) for c in self._t.cash_outs.values()}
        return taken & set(references)

    def by_id(self, cash_out_id: str) -> CashOut | None:
        return self._t.cash_outs.get(cash_out_id)

    def by_ids(self, cash_out_ids: list[str]) -> dict[str, CashOut]:
        return {i: self._t.cash_outs[i] for i in cash_out_ids if i in self._t.cash_outs}

    def by_end_to_end_id(self, end_to_end_id: str, *, lock: bool = False) -> CashOut | None:
        return next(
            (c for c in self._t.cash_outs.values() if c.end_to_end_id == end_to_end_id), None
        )

    def mark_submitted(self, cash_out: CashOut, at: datetime) -> bool:
        assert cash_out.creditor is not None and cash_out.submitted_at is not None
        current = self._t.cash_outs.get(cash_out.id)
        if (
            current is None
            or current.submitted_at is not None
            or current.status is not CashOutStatus.PROCESSING
        ):
            return False
        self._t.cash_outs[cash_out.id] = replace(
            current, submitted_at=cash_out.submitted_at, creditor=cash_out.creditor
        )
        return True

    def mark_submitted_many(self, cash_outs: list[CashOut], at: datetime) -> set[str]:
        return {c.id for c in cash_outs if self.mark_submitted(c, at)}

    def finish_many(
        self, cash_outs: list[CashOut], *, at: datetime, unsubmitted_only: bool = False
    ) -> set[str]:
        return {c.id for c in cash_outs if self.finish(c, at=at, unsubmitted_only=unsubmitted_only)}

    def finish(self, cash_out: CashOut, *, at: datetime, unsubmitted_only: bool = False) -> bool:
        current = self._t.cash_outs.get(cash_out.id)
        if current is None or current.status is not CashOutStatus.PROCESSING:
            return False
        if unsubmitted_only and current.submitted_at is not None:
            return False
        e2e = cash_out.end_to_end_id
        if e2e is not None and any(c.end_to_end_id == e2e for c in self._t.cash_outs.values()):
            raise _taken("endToEndId", e2e)
        self._t.cash_outs[cash_out.id] = replace(
            current,
            status=cash_out.status,
            end_to_end_id=e2e,
            paid_at=cash_out.paid_at,
            failure=cash_out.failure,
            spi_reason_code=cash_out.spi_reason_code,
        )
        return True


class FakeCharges:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def add(self, charges: list[Charge]) -> None:
        rows = self._t.charges
        for charge in charges:
            for what, key, taken in (
                ("charge", charge.id, set(rows)),
                ("internal code", charge.internal_code, {c.internal_code for c in rows.values()}),
                ("txid", charge.txid, {c.txid for c in rows.values()}),
                (
                    "reference",
                    (charge.client_id, charge.external_reference),
                    {(c.client_id, c.external_reference) for c in rows.values()},
                ),
            ):
                if key in taken:
                    raise _taken(what, key)
            rows[charge.id] = charge

    def _find(self, **wanted: object) -> Charge | None:
        return next(
            (
                c
                for c in self._t.charges.values()
                if all(getattr(c, name) == value for name, value in wanted.items())
            ),
            None,
        )

    def get(self, client_id: str, internal_code: str) -> Charge | None:
        return self._find(client_id=client_id, internal_code=internal_code)

    def by_external_reference(self, client_id: str, reference: str) -> Charge | None:
        return self._find(client_id=client_id, external_reference=reference)

    def references_taken(self, references: list[tuple[str, str]]) -> set[tuple[str, str]]:
        taken = {(c.client_id, c.external_reference) for c in self._t.charges.values()}
        return taken & set(references)

    def by_txid(self, txid: str, *, lock: bool = False) -> Charge | None:
        return self._find(txid=txid)

    def by_location(self, location_id: str) -> Charge | None:
        return self._find(location_id=location_id)

    def by_id(self, charge_id: str, *, lock: bool = False) -> Charge | None:
        return self._t.charges.get(charge_id)

    def change(self, charge: Charge, *, was: ChargeStatus) -> bool:
        current = self._t.charges.get(charge.id)
        if current is None or current.status is not was:
            return False
        self._t.charges[charge.id] = replace(
            current, status=charge.status, updated_at=charge.updated_at
        )
        return True


class FakeCashIns:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def add(self, cash_in: CashIn) -> None:
        if cash_in.end_to_end_id in self._t.cash_ins:
            raise _taken("endToEndId", cash_in.end_to_end_id)
        self._t.cash_ins[cash_in.end_to_end_id] = cash_in

    def get(self, end_to_end_id: str) -> CashIn | None:
        return self._t.cash_ins.get(end_to_end_id)

    def of_charges(self, charge_ids: list[str]) -> dict[str, list[CashIn]]:
        found: dict[str, list[CashIn]] = {charge_id: [] for charge_id in charge_ids}
        for cash_in in sorted(
            self._t.cash_ins.values(), key=lambda c: (c.paid_at, c.end_to_end_id)
        ):
            if cash_in.charge_id in found:
                found[cash_in.charge_id].append(cash_in)
        return found


class FakePixKeys:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def add(self, key: PixKey) -> None:
        if key.key in self._t.pix_keys:
            raise _taken("pix key", key.key)
        self._t.pix_keys[key.key] = key

    def get(self, key: str) -> PixKey | None:
        return self._t.pix_keys.get(key)

    def of_client(self, client_id: str) -> list[PixKey]:
        mine = [k for k in self._t.pix_keys.values() if k.client_id == client_id]
        return sorted(mine, key=lambda k: (k.created_at, k.key))

    def delete(self, client_id: str, key: str) -> bool:
        found = self._t.pix_keys.get(key)
        if found is None or found.client_id != client_id:
            return False
        del self._t.pix_keys[key]
        return True


class FakeBlocks:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def add(self, block: Block) -> None:
        if block.id in self._t.blocks:
            raise _taken("block", block.id)
        self._t.blocks[block.id] = block

    def get(self, block_id: str) -> Block | None:
        return self._t.blocks.get(block_id)

    def listed(self, *, client_id: str | None, active_only: bool, limit: int) -> list[Block]:
        found = [
            b
            for b in self._t.blocks.values()
            if (client_id is None or b.client_id == client_id) and (b.active or not active_only)
        ]
        return sorted(found, key=lambda b: (-b.created_at.timestamp(), b.id))[:limit]

    def release(self, block: Block) -> bool:
        current = self._t.blocks.get(block.id)
        if current is None or not current.active:
            return False
        self._t.blocks[block.id] = block
        return True


class FakeReturns:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def add(self, back: CashOutReturn) -> None:
        if back.return_id in self._t.returns:
            raise _taken("returnId", back.return_id)
        self._t.returns[back.return_id] = back

    def get(self, return_id: str) -> CashOutReturn | None:
        return self._t.returns.get(return_id)

    def of_cash_outs(self, cash_out_ids: list[str]) -> dict[str, list[CashOutReturn]]:
        found: dict[str, list[CashOutReturn]] = {i: [] for i in cash_out_ids}
        for back in sorted(self._t.returns.values(), key=lambda b: (b.returned_at, b.return_id)):
            if back.cash_out_id in found:
                found[back.cash_out_id].append(back)
        return found


class FakeRefunds:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def add(self, refunds: list[Refund]) -> None:
        return_ids = {r.return_id for r in self._t.refunds.values()}
        for refund in refunds:
            if refund.id in self._t.refunds or refund.return_id in return_ids:
                raise _taken("refund", refund.id)
            if refund.end_to_end_id not in self._t.cash_ins:  # the foreign key
                raise LedgerViolation(f"No payment {refund.end_to_end_id} to refund.")
            self._t.refunds[refund.id] = refund

    def get(self, client_id: str, refund_id: str) -> Refund | None:
        found = self._t.refunds.get(refund_id)
        return found if found is not None and found.client_id == client_id else None

    def by_id(self, refund_id: str) -> Refund | None:
        return self._t.refunds.get(refund_id)

    def of_payments(self, end_to_end_ids: list[str]) -> dict[str, list[Refund]]:
        found: dict[str, list[Refund]] = {e: [] for e in end_to_end_ids}
        for refund in sorted(self._t.refunds.values(), key=lambda r: (r.requested_at, r.id)):
            if refund.end_to_end_id in found:
                found[refund.end_to_end_id].append(refund)
        return found

    def finish(self, refund: Refund) -> bool:
        current = self._t.refunds.get(refund.id)
        if current is None or current.status is not RefundStatus.PROCESSING:
            return False
        self._t.refunds[refund.id] = refund
        return True


class FakeInfractions:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def add(self, infraction: Infraction) -> None:
        if self.of_payment(infraction.end_to_end_id) is not None:
            raise _taken("infraction of", infraction.end_to_end_id)
        self._t.infractions[infraction.id] = infraction

    def get(self, infraction_id: str, *, lock: bool = False) -> Infraction | None:
        return self._t.infractions.get(infraction_id)

    def of_payment(self, end_to_end_id: str) -> Infraction | None:
        found = [i for i in self._t.infractions.values() if i.end_to_end_id == end_to_end_id]
        return found[0] if found else None

    def listed(
        self, *, client_id: str | None, status: InfractionStatus | None, limit: int
    ) -> list[Infraction]:
        found = [
            i
            for i in self._t.infractions.values()
            if client_id in (None, i.client_id) and status in (None, i.status)
        ]
        return sorted(found, key=lambda i: (-i.reported_at.timestamp(), i.id))[:limit]

    def decide(self, infraction: Infraction) -> bool:
        current = self._t.infractions.get(infraction.id)
        if current is None or current.status is not InfractionStatus.OPEN:
            return False
        self._t.infractions[infraction.id] = infraction
        return True


class FakeIdempotency:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def find(self, slots: list[tuple[str, str]]) -> dict[tuple[str, str], StoredOutcome]:
        return {s: self._t.idempotency[s][0] for s in slots if s in self._t.idempotency}

    def store(self, outcomes: list[StoredOutcome], *, at: datetime) -> None:
        slots = [(o.client_id, o.key) for o in outcomes]
        for slot in slots:
            if slot in self._t.idempotency or slots.count(slot) > 1:
                raise _taken("idempotency key", slot)
        self._t.idempotency.update({(o.client_id, o.key): (o, at) for o in outcomes})

    def forget_before(self, cutoff: datetime) -> int:
        old = [slot for slot, (_, at) in self._t.idempotency.items() if at < cutoff]
        for slot in old:
            del self._t.idempotency[slot]
        return len(old)


class FakeLimits:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def lock_daily(self, client_ids: list[str], day: date) -> dict[str, Centavos]:
        usage = self._t.daily_usage
        return {c: usage[(c, day)] for c in client_ids if (c, day) in usage}

    def set_daily(self, day: date, usage: dict[str, Centavos], *, known: set[str]) -> None:
        rows = self._t.daily_usage
        for client_id, amount in sorted(usage.items()):
            if amount < 0:
                raise CheckViolation("A day's usage would go below zero.")
            slot = (client_id, day)
            if client_id in known:
                if slot in rows:  # an UPDATE of a row that is gone changes nothing
                    rows[slot] = amount
            elif slot in rows:
                raise _taken("daily usage", slot)
            else:
                rows[slot] = amount

    def release_daily(self, client_id: str, day: date, amount: Centavos) -> None:
        used = self._t.daily_usage.get((client_id, day))
        if used is not None and used >= amount:
            self._t.daily_usage[(client_id, day)] = used - amount


class FakeRisk:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def tallies(
        self, client_ids: list[str], points: list[tuple[str, datetime]]
    ) -> tuple[dict[str, Tally], dict[tuple[str, datetime], Tally]]:
        stored = {c: self._t.risk_totals[c] for c in client_ids if c in self._t.risk_totals}
        # Counted afresh from the decisions, not read from their tallies: an oracle.
        found = {}
        for client_id, moment in points:
            earlier = [
                d for d in self._t.decisions.values() if d.client_id == client_id and d.at < moment
            ]
            found[(client_id, moment)] = Tally(
                len(earlier), sum(d.amount for d in earlier if d.accepted)
            )
        return stored, found

    def paid(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        return {pair for pair in pairs if pair in self._t.payees}

    def record(self, decisions: list[Decision]) -> None:
        for d in decisions:
            if d.id in self._t.decisions:
                raise _taken("risk decision", d.id)
            self._t.decisions[d.id] = d
            self._t.risk_totals[d.client_id] = d.tally
            if d.accepted:
                self._t.payees.setdefault((d.client_id, d.payee), d.at)

    def decisions(
        self, *, client_id: str | None, since: datetime | None, limit: int
    ) -> list[Decision]:
        found = [
            d
            for d in self._t.decisions.values()
            if (client_id is None or d.client_id == client_id) and (since is None or d.at >= since)
        ]
        newest = sorted(found, key=lambda d: d.tally.decided, reverse=True)
        return sorted(newest, key=lambda d: (-d.at.timestamp(), d.client_id))[:limit]


class FakeOutbox:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def enqueue(
        self, topic: str, jobs: list[tuple[str, dict[str, Any]]], *, available_at: datetime
    ) -> None:
        for ref, payload in jobs:
            job_id = max(self._t.jobs, default=0) + 1
            self._t.jobs[job_id] = JobRow(job_id, topic, ref, json.dumps(payload), available_at)

    def claim(self, topic: str, *, now: datetime, lease_until: datetime, limit: int) -> list[Job]:
        due = sorted(
            (
                j
                for j in self._t.jobs.values()
                if j.topic == topic
                and j.done_at is None
                and j.available_at <= now
                and (j.locked_until is None or j.locked_until < now)
            ),
            key=lambda j: (j.available_at, j.id),
        )[:limit]
        claimed = []
        for row in due:
            row = replace(row, locked_until=lease_until, attempts=row.attempts + 1)
            self._t.jobs[row.id] = row
            payload = json.loads(row.payload)
            claimed.append(Job(row.id, row.topic, row.ref, payload, row.attempts, row.failures))
        return claimed

    def finish(self, job_id: int, *, at: datetime) -> None:
        self._t.jobs[job_id] = replace(self._t.jobs[job_id], done_at=at, locked_until=None)

    def finish_many(self, job_ids: list[int], *, at: datetime) -> None:
        for job_id in job_ids:
            self.finish(job_id, at=at)

    def defer_many(self, deferrals: list[tuple[int, datetime, bool]]) -> None:
        for job_id, until, failed in deferrals:
            self.defer(job_id, until=until, failed=failed)

    def defer(self, job_id: int, *, until: datetime, failed: bool) -> None:
        row = self._t.jobs[job_id]
        failures = row.failures + 1 if failed else 0
        self._t.jobs[job_id] = replace(
            row, available_at=until, locked_until=None, failures=failures
        )


class FakeWebhooks:
    def __init__(self, t: Tables) -> None:
        self._t = t

    def add_endpoint(self, endpoint: Endpoint) -> None:
        if endpoint.id in self._t.endpoints:
            raise _taken("endpoint", endpoint.id)
        self._t.endpoints[endpoint.id] = EndpointRow(replace(endpoint, enabled=True))

    def endpoints(self, client_id: str) -> list[Endpoint]:
        rows = [r for r in self._t.endpoints.values() if r.deleted_at is None]
        found = [r.endpoint for r in rows if r.endpoint.client_id == client_id]
        return sorted(found, key=lambda e: e.created_at)

    def endpoint(self, client_id: str, endpoint_id: str) -> Endpoint | None:
        row = self._t.endpoints.get(endpoint_id)
        if row is None or row.deleted_at is not None or row.endpoint.client_id != client_id:
            return None
        return row.endpoint

    def delete_endpoint(self, client_id: str, endpoint_id: str, at: datetime) -> bool:
        if self.endpoint(client_id, endpoint_id) is None:
            return False
        row = self._t.endpoints[endpoint_id]
        self._t.endpoints[endpoint_id] = replace(
            row, endpoint=replace(row.endpoint, enabled=False), deleted_at=at
        )
        self._fail_pending(endpoint_id)
        return True

    def rotate_secret(
        self, endpoint_id: str, secret_enc: str, previous_expires_at: datetime
    ) -> None:
        row = self._t.endpoints.get(endpoint_id)
        if row is None or row.deleted_at is not None:
            return
        rotated = replace(
            row.endpoint,
            secret_enc=secret_enc,
            previous_secret_enc=row.endpoint.secret_enc,  # the row's own, as the SQL reads it
            previous_secret_expires_at=previous_expires_at,
        )
        self._t.endpoints[endpoint_id] = replace(row, endpoint=rotated)

    def disable_endpoint(self, endpoint_id: str, reason: str, at: datetime) -> None:
        row = self._t.endpoints[endpoint_id]
        disabled = replace(row.endpoint, enabled=False)
        self._t.endpoints[endpoint_id] = replace(row, endpoint=disabled, disabled_reason=reason)
        self._fail_pending(endpoint_id)

    def _fail_pending(self, endpoint_id: str) -> None:
        for d in list(self._t.deliveries.values()):
            if d.endpoint_id == endpoint_id and d.status is DeliveryStatus.PENDING:
                failed = replace(d, status=DeliveryStatus.FAILED, locked_until=None)
                self._t.deliveries[d.id] = failed

    def add_message(self, message: Message) -> None:
        if message.id in self._t.messages:
            raise _taken("message", message.id)
        self._t.messages[message.id] = message

    def add_delivery(
        self, message: Message, url: str, endpoint_id: str | None, at: datetime
    ) -> str:
        delivery_id = str(uuid.uuid4())
        self._t.deliveries[delivery_id] = DeliveryRow(
            delivery_id,
            message.id,
            message.client_id,
            endpoint_id,
            url,
            DeliveryStatus.PENDING,
            next_attempt_at=at,
            created_at=at,
        )
        return delivery_id

    def messages_between(
        self, client_id: str, shape: MessageShape, since: datetime, until: datetime
    ) -> list[Message]:
        found = [
            m
            for m in self._t.messages.values()
            if m.client_id == client_id and m.shape is shape and since <= m.created_at < until
        ]
        return sorted(found, key=lambda m: (m.created_at, m.id))

    def deliveries(
        self, client_id: str, status: DeliveryStatus | None, limit: int
    ) -> list[DeliveryView]:
        return [found.delivery for found in self._views(client_id, status, limit)]

    def failed_deliveries(self, client_id: str | None, limit: int) -> list[ClientDelivery]:
        return self._views(client_id, DeliveryStatus.FAILED, limit)

    def delivery_client(self, delivery_id: str) -> str | None:
        found = self._t.deliveries.get(delivery_id)
        return None if found is None else found.client_id

    def _views(
        self, client_id: str | None, status: DeliveryStatus | None, limit: int
    ) -> list[ClientDelivery]:
        rows = [
            d
            for d in self._t.deliveries.values()
            if client_id in (None, d.client_id) and status in (None, d.status)
        ]
        rows.sort(key=lambda d: d.id)
        rows.sort(key=lambda d: d.created_at, reverse=True)
        return [
            ClientDelivery(
                d.client_id,
                DeliveryView(
                    id=d.id,
                    message_id=d.message_id,
                    event_type=self._t.messages[d.message_id].event_type,
                    endpoint_id=d.endpoint_id,
                    url=d.url,
                    status=d.status,
                    attempts=(),  # attempts are the dispatcher's, which is not faked
                    next_attempt_at=(
                        d.next_attempt_at if d.status is DeliveryStatus.PENDING else None
                    ),
                    created_at=d.created_at,
                ),
            )
            for d in rows[:limit]
        ]

    def _live(self, delivery: DeliveryRow) -> bool:
        if delivery.endpoint_id is None:
            return True  # a record's own webhookUrl
        row = self._t.endpoints.get(delivery.endpoint_id)
        return row is not None and row.endpoint.enabled and row.deleted_at is None

    def delivery_endpoint_live(self, client_id: str, delivery_id: str) -> bool | None:
        found = self._t.deliveries.get(delivery_id)
        if found is None or found.client_id != client_id:
            return None
        return self._live(found)

    def requeue(self, client_id: str, delivery_id: str, at: datetime) -> bool:
        found = self._t.deliveries.get(delivery_id)
        if found is None or found.client_id != client_id or not self._live(found):
            return False
        if found.locked_until is not None and found.locked_until >= at:
            return False  # an attempt is under way
        self._t.deliveries[delivery_id] = replace(
            found, status=DeliveryStatus.PENDING, next_attempt_at=at, locked_until=None
        )
        return True

    # The dispatcher's calls: tested on real databases (tests/e2e/test_webhooks.py).

    def due_deliveries(
        self, *, now: datetime, limit: int, skip: Collection[str], only: str | None = None
    ) -> list[DueDelivery]:
        raise NotImplementedError("the dispatcher is not faked")

    def lease_deliveries(self, ids: list[str], *, lease_until: datetime) -> list[DeliveryTask]:
        raise NotImplementedError("the dispatcher is not faked")

    def record_attempts(self, results: list[AttemptResult]) -> None:
        raise NotImplementedError("the dispatcher is not faked")

    def unlease(self, ids: list[str]) -> None:
        raise NotImplementedError("the dispatcher is not faked")


# --- the unit of work ---------------------------------------------------------------------


class FakeUnitOfWork:
    """One transaction over a copy of the committed tables."""

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

    def __init__(self, db: FakeDatabase, *, write: bool) -> None:
        self._db = db
        self._write = write
        self._events: list[Event] = []
        self.committed = False

    def __enter__(self) -> FakeUnitOfWork:
        self._began, self.tables = self._db.begin(write=self._write)
        t = self.tables
        self.clients = FakeClients(t)
        self.keys = FakeKeys(t)
        self.ledger = FakeLedger(t)
        self.cash_outs = FakeCashOuts(t)
        self.charges = FakeCharges(t)
        self.cash_ins = FakeCashIns(t)
        self.pix_keys = FakePixKeys(t)
        self.blocks = FakeBlocks(t)
        self.returns = FakeReturns(t)
        self.refunds = FakeRefunds(t)
        self.infractions = FakeInfractions(t)
        self.idempotency = FakeIdempotency(t)
        self.limits = FakeLimits(t)
        self.risk = FakeRisk(t)
        self.outbox = FakeOutbox(t)
        self.webhooks = FakeWebhooks(t)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._events = []  # uncommitted: the copy and its events are dropped

    def emit(self, event: Event) -> None:
        self._events.append(event)

    @contextmanager
    def pipelined(self) -> Iterator[None]:
        yield  # in memory, every write is answered at once

    def commit(self) -> None:
        # Services write only in write transactions; one that commits a read is a bug.
        assert self._write, "commit() in a read-only unit of work"
        events, self._events = self._events, []
        if events:
            self._db.publish(self, events)
        self._db.commit(self._began, self.tables, events)
        self.committed = True


class FakeDatabase:
    """The committed tables; ``db(write=...)`` is a ``UnitOfWorkFactory`` over them."""

    def __init__(self, publish: PublishEvents | None = None) -> None:
        self.committed = Tables()
        self.published: list[Event] = []  # the events of every commit, in order
        self.write_transactions = 0  # begun, committed or not
        self._publish = publish
        self._lock = threading.Lock()
        self._gate: threading.Event | None = None
        self._waiting = threading.Event()
        self._meanwhile: list[Callable[[], None]] = []

    def __call__(self, *, write: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, write=write)

    def publish(self, uow: UnitOfWork, events: list[Event]) -> None:
        if self._publish is not None:
            self._publish(uow, events)

    def begin(self, *, write: bool) -> tuple[int, Tables]:
        hooks: list[Callable[[], None]] = []
        if write:
            with self._lock:
                self.write_transactions += 1
                gate = self._gate
            if gate is not None:
                self._waiting.set()
                gate.wait(10)
        with self._lock:
            tables = self.committed.copy()
            if write:
                hooks, self._meanwhile = self._meanwhile, []
        for hook in hooks:
            hook()
        return tables.version, tables

    def commit(self, began: int, tables: Tables, events: list[Event]) -> None:
        with self._lock:
            if self.committed.version != began:
                raise StorageConflict("Another writer committed first.")
            tables.version = began + 1
            self.committed = tables.copy()
            self.published.extend(events)

    def meanwhile(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the next write transaction has begun: what another process
        does while that one is open (its own commits make that one's commit conflict)."""
        with self._lock:
            self._meanwhile.append(hook)

    @contextmanager
    def held(self) -> Iterator[threading.Event]:
        """Write transactions wait at their start until the block ends; the event tells
        that one is waiting. Open none from the test's own thread inside the block."""
        gate = threading.Event()
        self._waiting.clear()
        self._gate = gate
        try:
            yield self._waiting
        finally:
            self._gate = None
            gate.set()


# --- the rail, and the other ports ------------------------------------------------------


class FakeRail:
    """DICT and SPI in memory. Keys resolve as ``keys`` says; SPI answers a new payment
    with ``spi(order)`` (settled at once by default), remembers it by idempotency key
    (an ``UNKNOWN`` answer is not remembered: the rail never took it), and gives a repeat
    the first answer. ``down[name]`` calls of that name raise ``RailUnavailable`` before
    the rail sees anything; ``lost`` ``submit_many`` calls are carried out and then raise
    (the answer was lost on its way back). ``log`` holds every call as (name, key), and
    ``meanwhile`` hooks run once, at the next call: what another worker does meanwhile."""

    def __init__(self, clock: FixedClock) -> None:
        self._clock = clock
        self.keys: dict[tuple[PixKeyType, str], Creditor] = {}
        self.payments: dict[str, RailStatus] = {}
        self.orders: list[PaymentOrder] = []  # every order submitted, repeats too
        self.log: list[tuple[str, str]] = []
        self.spi: Callable[[PaymentOrder], RailStatus] = self.settle
        self.down: Counter[str] = Counter()
        self.lost = 0
        self.meanwhile: list[Callable[[], None]] = []  # run at the next call, once

    def settle(self, order: PaymentOrder) -> RailStatus:
        return RailStatus(RailState.SETTLED, order.end_to_end_id, settled_at=self._clock.now())

    def _call(self, name: str, key: str) -> None:
        self.log.append((name, key))
        hooks, self.meanwhile = self.meanwhile, []
        for hook in hooks:
            hook()
        if self.down[name]:
            self.down[name] -= 1
            raise RailUnavailable(f"{name}: no answer")

    def calls(self, name: str) -> int:
        return sum(1 for called, _ in self.log if called == name)

    def lookup(self, key_type: PixKeyType, key: str) -> Creditor | None:
        self._call("lookup", key)
        return self.keys.get((key_type, key))

    def submit(self, order: PaymentOrder) -> RailStatus:
        self._call("submit", order.idempotency_key)
        return self._pay(order)

    def submit_many(self, orders: list[PaymentOrder]) -> list[RailStatus]:
        self._call("submit_many", ",".join(o.idempotency_key for o in orders))
        answers = [self._pay(order) for order in orders]
        if self.lost:
            self.lost -= 1
            raise RailUnavailable("submit_many: the answer was lost")
        return answers

    def _pay(self, order: PaymentOrder) -> RailStatus:
        self.orders.append(order)
        known = self.payments.get(order.idempotency_key)
        if known is None:
            known = self.spi(order)
            if known.state is not RailState.UNKNOWN:
                self.payments[order.idempotency_key] = known
        return known

    def status(self, idempotency_key: str) -> RailStatus:
        self._call("status", idempotency_key)
        return self.payments.get(idempotency_key, RailStatus(RailState.NOT_FOUND))


class FakeScreener:
    """DICT's security information as a test sets it: the keys and documents in
    ``marked`` carry a fraud marker; every screening is in memory."""

    def __init__(self) -> None:
        self.marked: set[str] = set()

    def screen(self, request: CashOutRequest) -> Screening:
        return self.remembered(request)

    def remembered(self, request: CashOutRequest) -> Screening:
        destination = request.payee.destination
        key = destination.key if isinstance(destination, PixDestination) else None
        return Screening(
            key_marked=key in self.marked, payee_marked=request.payee.document in self.marked
        )


class FakeHasher:
    """SHA-256, not a password hash: creating a client costs microseconds."""

    def hash(self, secret: str) -> str:
        return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()

    def verify(self, stored: str, secret: str) -> bool:
        return hmac.compare_digest(stored, self.hash(secret))


class FakeGuard:
    """Refuses URLs whose host is in ``blocked``, as if it resolved somewhere private."""

    def __init__(self, *blocked: str) -> None:
        self.blocked = set(blocked)

    def check(self, url: str) -> None:
        self.check_literal(url)

    def check_literal(self, url: str) -> None:
        if urlsplit(url).hostname in self.blocked:
            raise BlockedUrl("resolves to an address webhooks may not reach")


class AcceptAll:
    """A flow that accepts anything (``one_batch`` holds the writer on one of its requests)."""

    name = "hold"
    refusals: tuple[type[ConnectPSPError], ...] = ()
    secret = False

    def load(self, uow: UnitOfWork, batch: Sequence[Submission[str]], now: datetime) -> None:
        return None

    def decide(self, state: None, submission: Submission[str], now: datetime) -> str:
        return submission.command

    def write(self, uow: UnitOfWork, state: None, now: datetime) -> None:
        pass

    def record(self, result: str) -> dict[str, Any]:
        return {"result": result}

    def restore(self, record: dict[str, Any]) -> str:
        return str(record["result"])

    def committed(self, results: list[str]) -> None:
        pass


@contextmanager
def one_batch(engine: AcceptanceEngine, db: FakeDatabase, client: Client) -> Iterator[None]:
    """Requests submitted inside the block are decided together, in one transaction: the
    writer is held on a throwaway request (no key) until the block ends."""
    with db.held() as waiting:
        engine.submit(AcceptAll(), client, None, "hold")
        assert waiting.wait(10)
        yield


# --- the use cases, wired to the fakes ----------------------------------------------------

PAYEE = Payee("Maria Silva", "12345678909", PixDestination(PixKeyType.CPF, "12345678909"))
# Who DICT says the payee's key belongs to (``rail.keys`` holds it in ``fake_services``).
MARIA = Creditor("Maria Silva", "12345678909", "18236120", "0001", "947710840", AccountType.PAYMENT)


# Every one of a client's own rules set, the night window all day long (America/Sao_Paulo).
EVERY_RULE = RiskRules(
    max_cash_outs_per_minute=10,
    max_amount_per_hour=1_000_00,
    new_payee_limit=500_00,
    night_limit=2_000_00,
    night_start=time(0, 0),
    night_end=time(23, 59),
)


def request(amount: Centavos, reference: str | None = None, payee: Payee = PAYEE) -> CashOutRequest:
    """A cash-out request to ``payee``, with a fresh reference unless one is given."""
    return CashOutRequest(amount, reference or f"r-{uuid.uuid4().hex[:10]}", None, None, payee)


ISPB = "00416968"
NUBANK = Participant("18236120", "260", "NU PAGAMENTOS - IP", "NU PAGAMENTOS S.A.", True)
MASTER_KEY = b"k" * 32


@dataclass
class Services:
    clock: FixedClock
    db: FakeDatabase
    rail: FakeRail
    cipher: AesGcmCipher
    guard: FakeGuard
    publisher: Publisher
    engine: AcceptanceEngine
    clients: ClientService
    cash_outs: CashOutService
    settlement: SettlementService
    endpoints: WebhookEndpoints
    screener: FakeScreener
    wakes: list[str]  # "settle" per accepted batch, "deliver" per queued deliveries

    def client(
        self, *, funds: Centavos = 0, fee: Centavos = 0, daily_limit: Centavos | None = None
    ) -> Client:
        """A new client with ``funds`` credited, as the sandbox funds one."""
        creds = self.clients.create("fake", fee_plan=FeePlan(fixed=fee), daily_limit=daily_limit)
        if funds:
            self.clients.fund(creds.client_id, funds)
        return self.clients.get(creds.client_id)


@contextmanager
def fake_services() -> Iterator[Services]:
    """Every use case over the fakes, wired as ``bootstrap.build`` wires them."""
    clock = FixedClock()
    wakes: list[str] = []
    publisher = Publisher(encode=payload_json.encode)
    register_payloads(publisher, ParticipantDirectory([NUBANK]))
    publisher.when_queued(lambda: wakes.append("deliver"))
    db = FakeDatabase(publisher.publish)
    with db(write=True) as uow:
        for code in (PSP_SETTLEMENT, PSP_FEES, WORLD):
            uow.ledger.open_account(code, client_id=None, no_overdraft=False)
        uow.commit()
    rail = FakeRail(clock)
    rail.keys[(PixKeyType.CPF, MARIA.document)] = MARIA
    cipher = AesGcmCipher(MASTER_KEY)
    guard = FakeGuard("internal.example")
    engine = AcceptanceEngine(db, clock=clock, cipher=cipher)
    screener = FakeScreener()
    services = Services(
        clock=clock,
        db=db,
        rail=rail,
        cipher=cipher,
        guard=guard,
        publisher=publisher,
        engine=engine,
        clients=ClientService(
            db,
            clock=clock,
            hasher=FakeHasher(),
            cipher=cipher,
            default_fee_plan=FeePlan(),
            default_per_transaction_limit=100_000_00,
            default_daily_limit=1_000_000_00,
        ),
        cash_outs=CashOutService(
            db, engine=engine, screener=screener, on_accepted=lambda: wakes.append("settle")
        ),
        settlement=SettlementService(db, rail=rail, clock=clock, ispb=ISPB),
        endpoints=WebhookEndpoints(
            db,
            engine=engine,
            clock=clock,
            cipher=cipher,
            guard=guard,
            event_types=publisher.event_types,
            on_queued=lambda: wakes.append("deliver"),
        ),
        screener=screener,
        wakes=wakes,
    )
    try:
        yield services
    finally:
        engine.close()
