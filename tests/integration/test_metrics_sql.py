"""The backlog gauges' statement reads only the unfinished rows' range of an index, on
SQLite and PostgreSQL (PostgreSQL told to avoid sequential scans: on the tests' tiny
tables it may prefer one, which says nothing of a table with a long history)."""

from __future__ import annotations

from sqlalchemy import text

from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.gauges import BacklogGauges
from connectpsp.adapters.storage.migrate import upgrade
from connectpsp.service.cashouts import SETTLE_TOPIC
from connectpsp.settings import Settings
from tests.support import FakeClock


def test_the_backlog_statement_searches_the_due_indexes(db_settings: Settings) -> None:
    db = Database(db_settings.database_url, schema=db_settings.database_schema)
    try:
        upgrade(db, schema=db_settings.database_schema)
        gauges = BacklogGauges(db, FakeClock(), settle_topic=SETTLE_TOPIC)
        with db.transaction(write=False) as tx:
            sql = str(gauges._query.compile(tx.conn, compile_kwargs={"literal_binds": True}))
            if db.is_sqlite:
                plan = [str(row[-1]) for row in tx.conn.execute(text("EXPLAIN QUERY PLAN " + sql))]
            else:
                tx.conn.execute(text("SET LOCAL enable_seqscan = off"))
                plan = [str(row[0]) for row in tx.conn.execute(text("EXPLAIN " + sql))]
        found = "\n".join(plan)
        assert "ix_outbox_due" in found and "ix_webhook_deliveries_due" in found, found
        assert "SCAN outbox" not in found and "Seq Scan" not in found, found
    finally:
        db.dispose()
