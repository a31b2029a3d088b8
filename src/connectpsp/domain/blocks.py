"""Blocks: received funds held out of a client's available balance.

A Pix received from a payer DICT marks for fraud is credited and, in the same
transaction, blocked as a precaution (Res. BCB 1/2020 lets the receiving PSP hold it for
up to 72 hours while it looks): the net amount moves from the client's available
account to its blocked account. The block ends by a release (the operator's, or when its
time runs out), which moves it back. A MED report blocks funds too
(``domain.infractions``); its block ends by the infraction's decision.

``GET /balance`` shows it as ``blocked``: part of ``total``, not of ``available``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from connectpsp.domain.errors import IllegalTransition
from connectpsp.domain.ids import derived_id
from connectpsp.domain.ledger import Transfer, client_account_code, single
from connectpsp.domain.money import Centavos

__all__ = [
    "PRECAUTIONARY_HOLD",
    "Block",
    "BlockReason",
    "blocked_account_code",
]

PRECAUTIONARY_HOLD = timedelta(hours=72)


def blocked_account_code(client_id: str) -> str:
    return f"client:{client_id}:blocked"


class BlockReason(StrEnum):
    FRAUD_MARKER = "FRAUD_MARKER"  # the payer's document carries a fraud marker in DICT
    MED = "MED"  # a fraud report (domain.infractions): ends by the operator's decision


@dataclass(frozen=True)
class Block:
    id: str  # derived from the endToEndId it holds: one block per Pix received
    client_id: str
    end_to_end_id: str
    amount: Centavos
    reason: BlockReason
    created_at: datetime
    expires_at: datetime
    released_at: datetime | None = None
    released_by: str | None = None  # "expiry", or the operator who released it

    @classmethod
    def precautionary(
        cls, client_id: str, end_to_end_id: str, amount: Centavos, now: datetime
    ) -> Block:
        return cls(
            id=cls.precautionary_id(end_to_end_id),
            client_id=client_id,
            end_to_end_id=end_to_end_id,
            amount=amount,
            reason=BlockReason.FRAUD_MARKER,
            created_at=now,
            expires_at=now + PRECAUTIONARY_HOLD,
        )

    @staticmethod
    def precautionary_id(end_to_end_id: str) -> str:
        return derived_id(end_to_end_id, "block")

    @property
    def active(self) -> bool:
        return self.released_at is None

    def hold(self) -> Transfer:
        """The amount out of the client's available balance, into its blocked one."""
        return single(
            derived_id(self.id, "hold"),
            debit=client_account_code(self.client_id),
            credit=blocked_account_code(self.client_id),
            amount=self.amount,
            code="block",
            ref=self.end_to_end_id,
        )

    def release(self, at: datetime, by: str) -> tuple[Block, Transfer]:
        """The block ended and the transfer that gives the amount back."""
        if not self.active:
            raise IllegalTransition("The block was released already.", {"blockId": self.id})
        back = single(
            derived_id(self.id, "release"),
            debit=blocked_account_code(self.client_id),
            credit=client_account_code(self.client_id),
            amount=self.amount,
            code="block_release",
            ref=self.end_to_end_id,
        )
        return replace(self, released_at=at, released_by=by), back
