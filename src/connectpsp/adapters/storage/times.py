"""Aware datetimes in the statements written by hand (``db.run_sql``): bound and read
as the schema's ``TZ`` columns bind and read them, in the connection's dialect, so that
a moment written here compares and sorts with the same moment written by SQLAlchemy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from connectpsp.adapters.storage.schema import TZ

__all__ = ["Times", "times"]


def _same(value: Any) -> Any:
    return value


class Times:
    def __init__(self, dialect: Any) -> None:
        column_type = TZ.dialect_impl(dialect)
        self._bind: Callable[[Any], Any] = column_type.bind_processor(dialect) or _same
        self._read: Callable[[Any], Any] = column_type.result_processor(dialect, None) or _same

    def bind(self, value: datetime | None) -> Any:
        return None if value is None else self._bind(value)

    def binder(self) -> Callable[[datetime | None], Any]:
        """``bind``, converting each distinct moment once: a batch's rows share theirs."""
        seen: dict[datetime, Any] = {}

        def bind(value: datetime | None) -> Any:
            if value is None:
                return None
            found = seen.get(value)
            if found is None:
                found = seen[value] = self._bind(value)
            return found

        return bind

    def read(self, value: Any) -> datetime:
        found = self._read(value)
        assert isinstance(found, datetime)
        return found


_by_dialect: dict[str, Times] = {}


def times(conn: Connection) -> Times:
    """The connection's dialect's ``Times``, built once."""
    found = _by_dialect.get(conn.dialect.name)
    if found is None:
        found = _by_dialect[conn.dialect.name] = Times(conn.dialect)
    return found
