"""What the lists and the statement take: filters, a limit and an opaque cursor.

A cursor is base64url JSON: the list it belongs to, the position of the last item shown,
and a digest of the filters it was made with; used with other filters it is refused
(400 naming ``cursor``), since its position means nothing in another list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from fastapi import Query
from pydantic import BaseModel

from connectpsp.api.cashin_schemas import ChargeBody
from connectpsp.api.deps import REFERENCE_PATTERN
from connectpsp.api.schemas import CashOutBody, Money
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.listing import Filters, Position
from connectpsp.service.statement import MAX_LIMIT

__all__ = [
    "CURSOR_QUERY",
    "FROM_QUERY",
    "LIMIT_QUERY",
    "TO_QUERY",
    "CashOutPage",
    "ChargePage",
    "MovementBody",
    "StatementPage",
    "decode_cursor",
    "encode_cursor",
    "filters_of",
]

DEFAULT_LIMIT = 100
BRAZIL = timezone(timedelta(hours=-3))
# ISO 8601: a date, or a date and time with an optional offset (-03:00 when none).
_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"
_CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,400}$"

FROM_QUERY = Query(
    None,
    alias="from",
    pattern=_TIME_PATTERN,
    description="From this date or time on (ISO 8601; -03:00 when no offset is given)",
)
TO_QUERY = Query(
    None,
    alias="to",
    pattern=_TIME_PATTERN,
    description="Before this time; a date: up to the end of that day (-03:00)",
)
LIMIT_QUERY = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page")
CURSOR_QUERY = Query(
    None,
    pattern=_CURSOR_PATTERN,
    description="The nextCursor of the page before, with the same filters",
)
REFERENCE_QUERY = Query(None, alias="externalReference", pattern=REFERENCE_PATTERN)


def filters_of(
    start: str | None,
    end: str | None,
    status: str | None = None,
    external_reference: str | None = None,
) -> Filters:
    """The filters, ``from``/``to`` read as ``parse_time`` reads them; ``to`` before
    ``from`` is refused, naming ``to``."""
    filters = Filters(
        start=None if start is None else parse_time(start, "from", end_of_day=False),
        end=None if end is None else parse_time(end, "to", end_of_day=True),
        status=status,
        external_reference=external_reference,
    )
    if filters.start and filters.end and filters.end < filters.start:
        raise ValidationFailed([FieldError("to", "must not be before from")])
    return filters


def parse_time(value: str, name: str, *, end_of_day: bool) -> datetime:
    """An ISO 8601 date or time; without an offset, in -03:00. A date is its first
    moment, or (``end_of_day``) the first moment of the day after."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time(), BRAZIL)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            [FieldError(name, "must be an ISO 8601 date or time, like 2026-12-01T09:30:00-03:00")]
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=BRAZIL)


def _digest(kind: str, filters: Filters) -> str:
    canonical = json.dumps(
        [
            kind,
            filters.start.isoformat() if filters.start else None,
            filters.end.isoformat() if filters.end else None,
            filters.status,
            filters.external_reference,
        ]
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_cursor(kind: str, filters: Filters, position: Position | None) -> str | None:
    if position is None:
        return None
    data = {"k": kind, "t": position.at.isoformat(), "s": position.seq, "f": _digest(kind, filters)}
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: str, filters: Filters) -> Position | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data: Any = json.loads(raw)
        position = Position(datetime.fromisoformat(data["t"]), int(data["s"]))
        if data["k"] != kind or position.at.tzinfo is None:
            raise ValueError(kind)
        digest = data["f"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(
            [FieldError("cursor", "is not a nextCursor this list gave")]
        ) from None
    if digest != _digest(kind, filters):
        raise ValidationFailed(
            [FieldError("cursor", "was made with other filters: send the same filters with it")]
        )
    return position


class CashOutPage(BaseModel):
    items: list[CashOutBody]
    nextCursor: str | None  # noqa: N815


class ChargePage(BaseModel):
    items: list[ChargeBody]
    nextCursor: str | None  # noqa: N815


class SubjectBody(BaseModel):
    kind: str | None
    internalCode: str | None  # noqa: N815


class MovementBody(BaseModel):
    movementId: str  # noqa: N815
    type: str
    movementType: str  # noqa: N815
    amount: Money
    balanceAfter: Money  # noqa: N815
    subject: SubjectBody
    endToEndId: str | None  # noqa: N815
    createdAt: str  # noqa: N815


class StatementPage(BaseModel):
    items: list[MovementBody]
    nextCursor: str | None  # noqa: N815
