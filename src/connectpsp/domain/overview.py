"""What the console's dashboard shows: a day's figures, the backlogs, and the webhook
targets that are failing. Read from storage at once, never kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from connectpsp.domain.money import Centavos

__all__ = ["Backlog", "DayFigures", "FailingTarget", "Overview", "StatusFigure"]


@dataclass(frozen=True)
class StatusFigure:
    status: str
    count: int
    amount: Centavos


@dataclass(frozen=True)
class DayFigures:
    """One kind of movement on one day: by status, and in all."""

    by_status: tuple[StatusFigure, ...] = ()

    @property
    def count(self) -> int:
        return sum(f.count for f in self.by_status)

    @property
    def amount(self) -> Centavos:
        return sum(f.amount for f in self.by_status)


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest: datetime | None


@dataclass(frozen=True)
class FailingTarget:
    """A webhook target (a registered endpoint, or a record's own webhookUrl) with
    deliveries that failed or are being retried."""

    client_id: str
    endpoint_id: str | None
    url: str
    failed: int  # deliveries given up on
    retrying: int  # deliveries pending after at least one failed attempt
    last_status_code: int | None
    last_at: datetime
    disabled_reason: str | None = None


@dataclass(frozen=True)
class Overview:
    day: date  # in America/Sao_Paulo
    cash_outs: DayFigures
    cash_ins: DayFigures  # the Pix received, all COMPLETED
    refunds: DayFigures
    settlement: Backlog
    webhooks: Backlog
    open_infractions: int
    failing: tuple[FailingTarget, ...] = field(default=())
