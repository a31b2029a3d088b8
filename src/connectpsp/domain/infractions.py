"""MED (Mecanismo Especial de Devolução): a payer's PSP reports a Pix one of our clients
received as fraud, and the money it can still find goes back.

A report blocks up to its amount of the client's available balance at once (a block of
reason MED, ``domain.blocks``), never more than is left of the payment to refund. The
PSP's operator then decides within 7 days: *accept* ends the block and refunds what it
held to the payer (a refund with reason FRAUD, SPI code FR01, reserved in the same
transaction, so the money is never available in between); *reject* releases it to the
client. With no decision by the deadline, the configured default applies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from connectpsp.domain.blocks import Block, BlockReason
from connectpsp.domain.errors import IllegalTransition
from connectpsp.domain.events import Event
from connectpsp.domain.ids import derived_id
from connectpsp.domain.money import Centavos

__all__ = [
    "DECISION_DEADLINE",
    "Infraction",
    "InfractionAccepted",
    "InfractionDecision",
    "InfractionRejected",
    "InfractionReported",
    "InfractionStatus",
]

DECISION_DEADLINE = timedelta(days=7)


class InfractionStatus(StrEnum):
    OPEN = "OPEN"  # reported; the funds found are blocked until a decision
    ACCEPTED = "ACCEPTED"  # the blocked funds went back to the payer (a refund)
    REJECTED = "REJECTED"  # the blocked funds went back to the client


class InfractionDecision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


@dataclass(frozen=True)
class Infraction:
    id: str
    client_id: str
    end_to_end_id: str  # the Pix received that was reported
    amount: Centavos  # what the report asks for
    blocked: Centavos  # what was found and blocked: up to ``amount``, maybe 0
    status: InfractionStatus
    reported_at: datetime
    deadline: datetime
    details: str | None = None  # the reporter's words
    decided_at: datetime | None = None
    decided_by: str | None = None  # the operator, or "deadline"
    rejection_reason: str | None = None
    refund_id: str | None = None  # when accepted with funds blocked

    @classmethod
    def report(
        cls,
        infraction_id: str,
        *,
        client_id: str,
        end_to_end_id: str,
        amount: Centavos,
        available: Centavos,
        now: datetime,
        details: str | None = None,
    ) -> Infraction:
        return cls(
            id=infraction_id,
            client_id=client_id,
            end_to_end_id=end_to_end_id,
            amount=amount,
            blocked=max(0, min(amount, available)),
            status=InfractionStatus.OPEN,
            reported_at=now,
            deadline=now + DECISION_DEADLINE,
            details=details,
        )

    def block(self) -> Block | None:
        """The block holding what was found; none when nothing was."""
        if not self.blocked:
            return None
        return Block(
            id=self.block_id,
            client_id=self.client_id,
            end_to_end_id=self.end_to_end_id,
            amount=self.blocked,
            reason=BlockReason.MED,
            created_at=self.reported_at,
            expires_at=self.deadline,
        )

    @property
    def block_id(self) -> str:
        return derived_id(self.id, "block")

    def accept(self, at: datetime, by: str, refund_id: str | None) -> Infraction:
        return replace(self._decided(InfractionStatus.ACCEPTED, at, by), refund_id=refund_id)

    def reject(self, at: datetime, by: str, reason: str) -> Infraction:
        return replace(self._decided(InfractionStatus.REJECTED, at, by), rejection_reason=reason)

    def _decided(self, status: InfractionStatus, at: datetime, by: str) -> Infraction:
        if self.status is not InfractionStatus.OPEN:
            raise IllegalTransition(
                f"The infraction was {self.status.value.lower()} already.",
                {"status": self.status.value},
            )
        return replace(self, status=status, decided_at=at, decided_by=by)


@dataclass(frozen=True)
class _InfractionEvent(Event):
    infraction: Infraction
    webhook_to: str | None  # the charge's webhookUrl, when the Pix paid a charge
    subject_kind: ClassVar[str] = "infraction"

    @property
    def subject_id(self) -> str:
        return self.infraction.id

    @property
    def client_id(self) -> str:
        return self.infraction.client_id

    @property
    def webhook_url(self) -> str | None:
        return self.webhook_to


@dataclass(frozen=True)
class InfractionReported(_InfractionEvent):
    type: ClassVar[str] = "INFRACTION_REPORTED"


@dataclass(frozen=True)
class InfractionAccepted(_InfractionEvent):
    type: ClassVar[str] = "INFRACTION_ACCEPTED"


@dataclass(frozen=True)
class InfractionRejected(_InfractionEvent):
    type: ClassVar[str] = "INFRACTION_REJECTED"
