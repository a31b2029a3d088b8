"""SQL storage for the daily limits' usage."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows, run_sql
from connectpsp.domain.money import Centavos

__all__ = ["SqlLimits"]


class SqlLimits:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def lock_daily(self, client_ids: list[str], day: date) -> dict[str, Centavos]:
        rows = run_sql(
            self._c,
            "SELECT client_id, amount FROM daily_usage WHERE day = ? AND client_id IN ({in})"
            " ORDER BY client_id {lock}",
            (day.isoformat(), client_ids),
        )
        return dict(rows)

    def set_daily(self, day: date, usage: dict[str, Centavos], *, known: set[str]) -> None:
        updates = [(v, c, day.isoformat()) for c, v in sorted(usage.items()) if c in known]
        inserts = [
            {"client_id": c, "day": day.isoformat(), "amount": v}
            for c, v in sorted(usage.items())
            if c not in known
        ]
        if updates:
            run_sql(
                self._c,
                "UPDATE daily_usage SET amount = ? WHERE client_id = ? AND day = ?",
                updates,
            )
        if inserts:  # a concurrent writer's row for the same day raises StorageConflict
            insert_rows(self._c, t.daily_usage, inserts)

    def release_daily(self, client_id: str, day: date, amount: Centavos) -> None:
        u = t.daily_usage.c
        self._c.execute(
            update(t.daily_usage)
            .where(u.client_id == client_id, u.day == day.isoformat(), u.amount >= amount)
            .values(amount=u.amount - amount)
        )
