"""Time is timezone-aware and comes from one injectable clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = ["SAO_PAULO", "Clock", "SystemClock", "business_date", "iso_local", "iso_utc"]

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def iso_local(moment: datetime) -> str:
    """ISO 8601 with the America/Sao_Paulo offset, to the second: 2026-03-10T14:00:00-03:00."""
    return moment.astimezone(SAO_PAULO).isoformat(timespec="seconds")


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z: 2026-03-10T17:02:35Z."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def business_date(moment: datetime) -> date:
    """The calendar day in Brazil, which is what daily limits count by."""
    return moment.astimezone(SAO_PAULO).date()
