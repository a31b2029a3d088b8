"""SQL storage for MED's fraud reports (``domain.infractions``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, Select, insert, select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.domain.infractions import Infraction, InfractionStatus

__all__ = ["SqlInfractions"]

_i = t.med_infractions.c


class SqlInfractions:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, infraction: Infraction) -> None:
        self._c.execute(insert(t.med_infractions).values(**_row(infraction)))

    def get(self, infraction_id: str, *, lock: bool = False) -> Infraction | None:
        query = select(t.med_infractions).where(_i.id == infraction_id)
        return self._one(query.with_for_update() if lock else query)

    def of_payment(self, end_to_end_id: str) -> Infraction | None:
        return self._one(select(t.med_infractions).where(_i.end_to_end_id == end_to_end_id))

    def listed(
        self, *, client_id: str | None, status: InfractionStatus | None, limit: int
    ) -> list[Infraction]:
        query = select(t.med_infractions).order_by(_i.reported_at.desc(), _i.id).limit(limit)
        if client_id is not None:
            query = query.where(_i.client_id == client_id)
        if status is not None:
            query = query.where(_i.status == status.value)
        return [_infraction(r) for r in self._c.execute(query)]

    def decide(self, infraction: Infraction) -> bool:
        """Store ``infraction``'s decision if it is still OPEN; False, writing nothing,
        if it was decided meanwhile."""
        done = self._c.execute(
            update(t.med_infractions)
            .where(_i.id == infraction.id, _i.status == InfractionStatus.OPEN.value)
            .values(
                status=infraction.status.value,
                decided_at=infraction.decided_at,
                decided_by=infraction.decided_by,
                rejection_reason=infraction.rejection_reason,
                refund_id=infraction.refund_id,
            )
        )
        return done.rowcount == 1

    def _one(self, query: Select[Any]) -> Infraction | None:
        row = self._c.execute(query).first()
        return _infraction(row) if row else None


def _row(i: Infraction) -> dict[str, Any]:
    return {
        "id": i.id,
        "client_id": i.client_id,
        "end_to_end_id": i.end_to_end_id,
        "amount": i.amount,
        "blocked": i.blocked,
        "status": i.status.value,
        "details": i.details,
        "reported_at": i.reported_at,
        "deadline": i.deadline,
        "decided_at": i.decided_at,
        "decided_by": i.decided_by,
        "rejection_reason": i.rejection_reason,
        "refund_id": i.refund_id,
    }


def _infraction(r: Row[Any]) -> Infraction:
    return Infraction(
        id=r.id,
        client_id=r.client_id,
        end_to_end_id=r.end_to_end_id,
        amount=r.amount,
        blocked=r.blocked,
        status=InfractionStatus(r.status),
        reported_at=r.reported_at,
        deadline=r.deadline,
        details=r.details,
        decided_at=r.decided_at,
        decided_by=r.decided_by,
        rejection_reason=r.rejection_reason,
        refund_id=r.refund_id,
    )
