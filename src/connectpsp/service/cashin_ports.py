"""The ports cash-in's use cases need (``service.ports`` re-exports them and binds the
repositories to the unit of work): charges, the Pix received, the clients' own keys,
and the keys that sign dynamic codes' locations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from connectpsp.domain.blocks import Block
from connectpsp.domain.cashin import CashIn, Charge, ChargeStatus
from connectpsp.domain.infractions import Infraction, InfractionStatus
from connectpsp.domain.refunds import Refund
from connectpsp.domain.returns import CashOutReturn

__all__ = [
    "BlockRepository",
    "CashInRepository",
    "ChargeRepository",
    "InfractionRepository",
    "LocationKeyStore",
    "PixKey",
    "PixKeyRepository",
    "RefundRepository",
    "ReturnRepository",
    "StoredLocationKey",
]


class ChargeRepository(Protocol):
    def add(self, charges: list[Charge]) -> None:
        """Insert; a reference, code or txid taken meanwhile by a concurrent writer
        raises ``StorageConflict``."""
        ...

    def get(self, client_id: str, internal_code: str) -> Charge | None: ...
    def by_external_reference(self, client_id: str, reference: str) -> Charge | None: ...

    def references_taken(self, references: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (client id, externalReference) pairs are used already."""
        ...

    def by_txid(self, txid: str, *, lock: bool = False) -> Charge | None:
        """With ``lock``, the row stays locked until the end of the transaction, so two
        payments of one charge are decided one after the other."""
        ...

    def by_location(self, location_id: str) -> Charge | None: ...
    def by_id(self, charge_id: str, *, lock: bool = False) -> Charge | None: ...

    def change(self, charge: Charge, *, was: ChargeStatus) -> bool:
        """Store ``charge``'s status and ``updated_at`` if it is still ``was``; False,
        writing nothing, otherwise."""
        ...


class CashInRepository(Protocol):
    def add(self, cash_in: CashIn) -> None:
        """Insert; the same endToEndId stored meanwhile by a concurrent writer raises
        ``StorageConflict``."""
        ...

    def get(self, end_to_end_id: str) -> CashIn | None: ...
    def of_charges(self, charge_ids: list[str]) -> dict[str, list[CashIn]]:
        """Each charge's payments, oldest first."""
        ...


@dataclass(frozen=True)
class PixKey:
    key: str
    key_type: str  # domain.pix.PixKeyType's value
    client_id: str
    created_at: datetime
    request_key: str | None = None  # digest of the request that registered it


class BlockRepository(Protocol):
    def add(self, block: Block) -> None:
        """Insert; a block of the same endToEndId raises ``StorageConflict``."""
        ...

    def get(self, block_id: str) -> Block | None: ...
    def listed(self, *, client_id: str | None, active_only: bool, limit: int) -> list[Block]:
        """Newest first."""
        ...

    def release(self, block: Block) -> bool:
        """Store ``block``'s release if it is still active; False, writing nothing,
        otherwise."""
        ...


class InfractionRepository(Protocol):
    def add(self, infraction: Infraction) -> None:
        """Insert; a second report of the same Pix raises ``StorageConflict``."""
        ...

    def get(self, infraction_id: str, *, lock: bool = False) -> Infraction | None: ...
    def of_payment(self, end_to_end_id: str) -> Infraction | None: ...
    def listed(
        self, *, client_id: str | None, status: InfractionStatus | None, limit: int
    ) -> list[Infraction]:
        """Newest first."""
        ...

    def decide(self, infraction: Infraction) -> bool:
        """Store a decision if the infraction is still OPEN; False, writing nothing, if
        it was decided meanwhile."""
        ...


class RefundRepository(Protocol):
    def add(self, refunds: list[Refund]) -> None: ...
    def get(self, client_id: str, refund_id: str) -> Refund | None: ...
    def by_id(self, refund_id: str) -> Refund | None: ...
    def of_payments(self, end_to_end_ids: list[str]) -> dict[str, list[Refund]]:
        """Each payment's refunds, oldest first."""
        ...

    def finish(self, refund: Refund) -> bool:
        """Store a refund's end if it is still PROCESSING; False, writing nothing, if
        it ended meanwhile."""
        ...


class ReturnRepository(Protocol):
    def add(self, back: CashOutReturn) -> None:
        """Insert; the same returnId stored meanwhile raises ``StorageConflict``."""
        ...

    def get(self, return_id: str) -> CashOutReturn | None: ...
    def of_cash_outs(self, cash_out_ids: list[str]) -> dict[str, list[CashOutReturn]]:
        """Each cash-out's returns, oldest first."""
        ...


class PixKeyRepository(Protocol):
    def add(self, key: PixKey) -> None:
        """Insert; a key taken meanwhile raises ``StorageConflict``."""
        ...

    def get(self, key: str) -> PixKey | None: ...
    def of_client(self, client_id: str) -> list[PixKey]:
        """Oldest first."""
        ...

    def delete(self, client_id: str, key: str) -> bool: ...


@dataclass(frozen=True)
class StoredLocationKey:
    """A key that signs dynamic codes' locations; its private key encrypted at rest."""

    kid: str
    private_key_enc: str
    created_at: datetime
    retired_at: datetime | None = None  # when it stops (or stopped) signing


class LocationKeyStore(Protocol):
    """Location signing keys; each call a transaction, serialised across processes."""

    def all(self) -> list[StoredLocationKey]: ...
    def add_first(self, key: StoredLocationKey) -> bool:
        """Store ``key`` unless there is a key already; whether it did."""
        ...

    def rotate(self, key: StoredLocationKey, retire_at: datetime) -> None:
        """Store ``key``, and retire every key not yet retired at ``retire_at``."""
        ...
