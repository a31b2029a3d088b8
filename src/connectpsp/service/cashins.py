"""Cash-in: charges (create, read, cancel, expire), the clients' own Pix keys, and the
Pix the network brings us (``Inbound``), credited through the ledger.

Creating a charge is a flow of the acceptance engine, as a cash-out is: an
``X-Idempotency-Key`` retried gets the first answer, and an ``externalReference`` is
the client's once. Receiving a Pix is one transaction: the payment's record, its credit
and fee transfers, the charge's new status and the events that become webhooks. The
same Pix brought twice (the same endToEndId) is credited once.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any

from connectpsp.domain.blocks import Block
from connectpsp.domain.cashin import (
    CashIn,
    CashInPayer,
    CashInReceived,
    Charge,
    ChargeExpired,
    ChargeRequest,
    ChargeStatus,
    cash_in_fee,
    credit_transfers,
)
from connectpsp.domain.cashin_payloads import cash_in_completed, charge_expired, movement_event
from connectpsp.domain.clients import Client
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import (
    ConnectPSPError,
    IllegalTransition,
    NotFound,
    StorageConflict,
)
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.pix_location import ChargeStatus as LocationStatus
from connectpsp.domain.pix_location import location_payload
from connectpsp.domain.spi import ReasonCode
from connectpsp.service.acceptance import AcceptanceEngine, Decided
from connectpsp.service.blocks import hold
from connectpsp.service.charge_flow import EXPIRE_TOPIC, ChargeFlow, NewCharge
from connectpsp.service.pix_keys import PixKeys
from connectpsp.service.ports import UnitOfWork, UnitOfWorkFactory
from connectpsp.service.publisher import Payloads, Publisher
from connectpsp.service.rail import IncomingPayment, IncomingReturn, Receipt

__all__ = ["CashInService", "register_payloads"]

# A charge's status as BCB's API Pix writes it in a location's payload.
_BCB_STATUS = {
    ChargeStatus.ACTIVE: LocationStatus.ACTIVE,
    ChargeStatus.COMPLETED: LocationStatus.COMPLETED,
    ChargeStatus.CANCELLED: LocationStatus.REMOVED_BY_RECEIVER,
    ChargeStatus.EXPIRED: LocationStatus.REMOVED_BY_PSP,
}
# A Pix delivered twice at once: the second writer finds the first's record on a retry.
_ATTEMPTS = 3


def register_payloads(publisher: Publisher, participants: ParticipantDirectory) -> None:
    """A received Pix's webhooks: the tutorial's shape for its charge's ``webhookUrl``,
    the account movement (``CashIn``, CREDIT) for the endpoints; an expired charge's for
    its own URL only (no money moved)."""

    def own(event: CashInReceived, at: datetime) -> dict[str, Any]:
        return cash_in_completed(event.cash_in, event.charge, at, participants)

    def movement(event: CashInReceived, at: datetime) -> dict[str, Any]:
        return movement_event(event.cash_in, event.charge, at, participants)

    def expired(event: ChargeExpired, at: datetime) -> dict[str, Any]:
        return charge_expired(event.charge, at)

    publisher.register(CashInReceived, Payloads(own=own, movement=movement))
    publisher.register(ChargeExpired, Payloads(own=expired, movement=None))


class CashInService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        engine: AcceptanceEngine,
        clock: Clock,
        keys: PixKeys,
        location_base: str,
        lease: timedelta = timedelta(seconds=30),
        on_event: Callable[[], None] = lambda: None,
        payer_marked: Callable[[str], bool] = lambda document: False,
        returned: Callable[[IncomingReturn], Receipt] | None = None,
    ) -> None:
        self._uow = uow
        self._engine = engine
        self._clock = clock
        self._keys = keys
        self._lease = lease
        self._on_event = on_event  # webhooks were queued: the dispatcher may look now
        # Whether DICT marks a payer's CPF/CNPJ for fraud: its Pix is then held.
        self._payer_marked = payer_marked
        self._returned = returned  # our cash-outs sent back: service.returns
        self.flow = ChargeFlow(location_base)

    # --- charges ---------------------------------------------------------------------

    def submit(
        self, client: Client, idempotency_key: str, request: ChargeRequest
    ) -> Future[Decided[Charge]]:
        command = NewCharge(request, self._keys.key_for_charges(client))
        return self._engine.submit(self.flow, client, idempotency_key, command)

    def create(
        self, client: Client, idempotency_key: str, request: ChargeRequest
    ) -> Decided[Charge]:
        return self.submit(client, idempotency_key, request).result()

    def get(self, client: Client, internal_code: str) -> tuple[Charge, list[CashIn]]:
        with self._uow() as uow:
            charge = uow.charges.get(client.id, internal_code)
            if charge is None:
                raise NotFound(f"No charge {internal_code}.")
            return charge, _payments(uow, charge)

    def find(self, client: Client, external_reference: str) -> tuple[Charge, list[CashIn]]:
        with self._uow() as uow:
            charge = uow.charges.by_external_reference(client.id, external_reference)
            if charge is None:
                raise NotFound(f"No charge with externalReference {external_reference}.")
            return charge, _payments(uow, charge)

    def cancel(self, client: Client, internal_code: str) -> tuple[Charge, list[CashIn]]:
        """An ACTIVE charge takes no more payments; a charge whose time ran out is left
        to expire (``IllegalTransition``), as the worker will make it."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            charge = uow.charges.get(client.id, internal_code)
            if charge is None:
                raise NotFound(f"No charge {internal_code}.")
            if charge.status is ChargeStatus.ACTIVE and charge.expired(now):
                raise IllegalTransition("The charge has expired.", {"status": "EXPIRED"})
            cancelled = charge.cancel(now)
            if not uow.charges.change(cancelled, was=ChargeStatus.ACTIVE):
                raise StorageConflict()
            payments = _payments(uow, charge)
            uow.commit()
        return cancelled, payments

    def received_by(self, client: Client, end_to_end_id: str) -> bool:
        """Whether ``client`` received the Pix ``end_to_end_id``."""
        with self._uow() as uow:
            found = uow.cash_ins.get(end_to_end_id)
        return found is not None and found.client_id == client.id

    def at_location(self, location_id: str) -> Charge:
        with self._uow() as uow:
            charge = uow.charges.by_location(location_id)
        if charge is None:
            raise NotFound(f"No charge at location {location_id}.")
        return charge

    def location_payload(self, location_id: str) -> dict[str, Any]:
        """What a dynamic charge's location serves a payer's PSP (BCB's API Pix ``cob``):
        presented now, with the charge's status as BCB names it."""
        charge = self.at_location(location_id)
        # A location is a dynamic charge's: it has both.
        assert charge.amount is not None
        assert charge.expires_in is not None
        return location_payload(
            txid=charge.txid,
            created_at=charge.created_at,
            presented_at=self._clock.now(),
            expires_in=charge.expires_in,
            amount=charge.amount,
            pix_key=charge.pix_key,
            description=charge.description,
            status=_BCB_STATUS[charge.status],
            revision=0,
        )

    def expire_due(self, limit: int = 64) -> int:
        """Expire the dynamic charges whose time ran out unpaid (the worker's step); the
        number of jobs claimed."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            jobs = uow.outbox.claim(
                EXPIRE_TOPIC, now=now, lease_until=now + self._lease, limit=limit
            )
            uow.commit()
        if not jobs:
            return 0
        expired = 0
        with self._uow(write=True) as uow:
            for job in jobs:
                charge = uow.charges.by_id(job.ref, lock=True)
                if charge is not None and charge.status is ChargeStatus.ACTIVE:
                    ended = charge.expire(now)
                    if uow.charges.change(ended, was=ChargeStatus.ACTIVE):
                        uow.emit(ChargeExpired(now, ended))
                        expired += 1
                uow.outbox.finish(job.id, at=now)
            uow.commit()
        if expired:
            self._on_event()
        return len(jobs)

    # --- the Pix the network brings (``service.rail.Inbound``) ------------------------

    def receive(self, payment: IncomingPayment) -> Receipt:
        """Credit a Pix paid to one of our clients' keys or charges, or reject it with
        the reason SPI passes on to the payer's PSP."""
        for attempt in range(_ATTEMPTS):
            try:
                receipt = self._receive(payment)
            except StorageConflict:
                if attempt == _ATTEMPTS - 1:
                    raise
                continue
            if receipt.accepted:
                self._on_event()
            return receipt
        raise AssertionError("unreachable")

    def refusal_of(self, key: str | None, txid: str | None, amount: int) -> ConnectPSPError | None:
        """Why a Pix of ``amount`` to this key or charge would be rejected now, if it
        would: what a payer's PSP learns before it pays (the sandbox payer asks)."""
        with self._uow() as uow:
            found = _payee(uow, key, txid, amount, self._clock.now())
        return found if isinstance(found, ConnectPSPError) else None

    def _receive(self, payment: IncomingPayment) -> Receipt:
        # Looked up before the transaction: it may wait on DICT.
        marked = bool(payment.payer.document) and self._payer_marked(payment.payer.document)
        now = self._clock.now()
        with self._uow(write=True) as uow:
            if uow.cash_ins.get(payment.end_to_end_id) is not None:
                return Receipt(True)  # brought again: credited the first time
            found = _payee(uow, payment.key, payment.txid, payment.amount, now, lock=True)
            if isinstance(found, NotFound):
                return Receipt(False, ReasonCode.AC03.value)  # nobody here takes it
            if isinstance(found, ConnectPSPError):
                return Receipt(False, ReasonCode.DS04.value)  # the charge takes no more
            client_id, charge = found
            client = uow.clients.get(client_id)
            if client is None or not client.active:
                return Receipt(False, ReasonCode.AC06.value)
            cash_in = CashIn(
                end_to_end_id=payment.end_to_end_id,
                client_id=client_id,
                charge_id=charge.id if charge else None,
                amount=payment.amount,
                fee=cash_in_fee(client.cash_in_fee_plan, payment.amount),
                pix_key=payment.key or (charge.pix_key if charge else None),
                txid=charge.txid if charge else payment.txid,
                payer=CashInPayer(payment.payer.name, payment.payer.document, payment.payer.ispb),
                paid_at=payment.paid_at,
                received_at=now,
            )
            after = None
            if charge is not None:
                after = charge.paid(now)
                if after.status is not charge.status and not uow.charges.change(
                    after, was=charge.status
                ):
                    raise StorageConflict()
            uow.cash_ins.add(cash_in)
            transfers = credit_transfers(cash_in)
            if marked and cash_in.net_amount > 0:
                # Credited, and held at once: never available before the operator looks.
                block = Block.precautionary(
                    client_id, cash_in.end_to_end_id, cash_in.net_amount, now
                )
                hold(uow, block)
                transfers.append(block.hold())
            uow.ledger.record(transfers)
            uow.emit(CashInReceived(now, cash_in, after))
            uow.commit()
        return Receipt(True)

    def returned(self, back: IncomingReturn) -> Receipt:
        """A cash-out of ours sent back: the network brings both directions to one
        ``Inbound``; returns are ``service.returns``'s."""
        if self._returned is None:
            return Receipt(False, ReasonCode.AG03.value)
        return self._returned(back)


def _payee(
    uow: UnitOfWork,
    key: str | None,
    txid: str | None,
    amount: int,
    now: datetime,
    *,
    lock: bool = False,
) -> tuple[str, Charge | None] | ConnectPSPError:
    """Which client a Pix to ``key`` and ``txid`` pays, and the charge it pays if any;
    or why none takes it: ``NotFound`` (a key, or a charge, not ours) or the charge's
    refusal. A key named must still be ours (DICT would not find it otherwise), and a
    txid pays only a charge of the key's owner. With ``lock`` the charge stays locked."""
    owner = uow.pix_keys.get(key) if key is not None else None
    if key is not None and owner is None:
        return NotFound("No such Pix key at this PSP.")
    charge = uow.charges.by_txid(txid, lock=lock) if txid else None
    if charge is None:
        if owner is None:
            return NotFound("No such charge at this PSP.")
        return owner.client_id, None
    if owner is not None and owner.client_id != charge.client_id:
        return NotFound("No such charge for this Pix key.")
    return charge.refusal_of(amount, now) or (charge.client_id, charge)


def _payments(uow: UnitOfWork, charge: Charge) -> list[CashIn]:
    return uow.cash_ins.of_charges([charge.id])[charge.id]
