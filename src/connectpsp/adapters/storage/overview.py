"""The console's dashboard (``domain.overview``), read from one snapshot: today's
movements by status (today in America/Sao_Paulo), the settlement and webhook backlogs
(what ``gauges.py`` counts for /metrics), the open MED reports, and the failing webhook
targets."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, or_, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database, one_snapshot
from connectpsp.adapters.storage.infractions import SqlInfractions
from connectpsp.domain.clock import SAO_PAULO, Clock
from connectpsp.domain.infractions import Infraction
from connectpsp.domain.overview import (
    Backlog,
    DayFigures,
    FailingTarget,
    Overview,
    StatusFigure,
)

__all__ = ["SqlOverview"]

_FAILING_SHOWN = 20


class SqlOverview:
    def __init__(self, db: Database, clock: Clock, *, settle_topic: str) -> None:
        self._db = db
        self._clock = clock
        self._settle_topic = settle_topic

    def overview(self) -> Overview:
        now = self._clock.now()
        day = now.astimezone(SAO_PAULO).date()
        start = datetime.combine(day, time(), tzinfo=SAO_PAULO)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=SAO_PAULO)
        co, ci, rf = t.cash_outs.c, t.cash_ins.c, t.cash_in_refunds.c
        with self._db.transaction(write=False) as tx:
            conn = tx.conn
            one_snapshot(conn)  # its figures as of one moment
            cash_outs = _by_status(conn, co.status, co.amount, co.requested_at, start, end)
            cash_ins = _by_status(conn, literal("COMPLETED"), ci.amount, ci.received_at, start, end)
            refunds = _by_status(conn, rf.status, rf.amount, rf.requested_at, start, end)
            o, d = t.outbox.c, t.webhook_deliveries.c
            settlement = _backlog(
                conn, o.created_at, o.topic == self._settle_topic, o.done_at.is_(None)
            )
            webhooks = _backlog(conn, d.created_at, d.status == "pending")
            open_infractions = conn.execute(
                select(func.count()).where(t.med_infractions.c.status == "OPEN")
            ).scalar_one()
            failing = _failing(conn)
        return Overview(
            day=day,
            cash_outs=cash_outs,
            cash_ins=cash_ins,
            refunds=refunds,
            settlement=settlement,
            webhooks=webhooks,
            open_infractions=int(open_infractions),
            failing=failing,
        )

    def infraction(self, infraction_id: str) -> Infraction | None:
        """Any client's report, for the operator."""
        with self._db.transaction(write=False) as tx:
            return SqlInfractions(tx.conn).get(infraction_id)


def _by_status(
    conn: Connection, status: Any, amount: Any, at: Any, start: datetime, end: datetime
) -> DayFigures:
    rows = conn.execute(
        select(status.label("status"), func.count(), func.coalesce(func.sum(amount), 0))
        .where(at >= start, at < end)
        .group_by(status)
        .order_by(status)
    ).all()
    return DayFigures(tuple(StatusFigure(str(s), int(n), int(total)) for s, n, total in rows))


def _backlog(conn: Connection, created_at: Any, *where: Any) -> Backlog:
    count, oldest = conn.execute(select(func.count(), func.min(created_at)).where(*where)).one()
    return Backlog(int(count), oldest)


def _failing(conn: Connection) -> tuple[FailingTarget, ...]:
    d, e = t.webhook_deliveries.c, t.webhook_endpoints.c
    failed = d.status == "failed"
    retrying = and_(d.status == "pending", d.attempts > 0)
    rows = conn.execute(
        select(
            d.client_id,
            d.endpoint_id,
            d.url,
            func.sum(case((failed, 1), else_=0)),
            func.sum(case((retrying, 1), else_=0)),
            func.max(d.updated_at),
        )
        .where(or_(failed, retrying))
        .group_by(d.client_id, d.endpoint_id, d.url)
        .order_by(func.max(d.updated_at).desc())
        .limit(_FAILING_SHOWN)
    ).all()
    last_codes = {}
    for client_id, endpoint_id, url, *_ in rows:
        # The answer to the target's latest failing delivery.
        last_codes[(client_id, endpoint_id, url)] = conn.execute(
            select(d.last_status_code)
            .where(
                d.client_id == client_id,
                d.url == url,
                d.endpoint_id.is_(None) if endpoint_id is None else d.endpoint_id == endpoint_id,
                or_(failed, retrying),
            )
            .order_by(d.updated_at.desc())
            .limit(1)
        ).scalar()
    endpoint_ids = [r[1] for r in rows if r[1] is not None]
    reasons = dict(
        conn.execute(
            select(e.id, e.disabled_reason).where(e.id.in_(endpoint_ids), e.status == "disabled")
        ).all()
    )
    return tuple(
        FailingTarget(
            client_id=client_id,
            endpoint_id=endpoint_id,
            url=url,
            failed=int(n_failed),
            retrying=int(n_retrying),
            last_status_code=last_codes[(client_id, endpoint_id, url)],
            last_at=last_at,
            disabled_reason=reasons.get(endpoint_id) if endpoint_id else None,
        )
        for client_id, endpoint_id, url, n_failed, n_retrying, last_at in rows
    )
