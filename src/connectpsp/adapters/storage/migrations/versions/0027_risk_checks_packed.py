"""risk checks packed: a check of a known rule is kept in a decision's document as
``[place, passed, *inputs]``, not ``{"rule", "passed", "inputs"}``

Nothing is rewritten on the way up: the store reads both forms. On the way down every
packed check is written whole again, as the code before this revision reads them.

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# As ``adapters.storage.risk._PACKED`` was at this revision: a rule by its place.
_PACKED = (
    ("fraud_markers", ("keyMarked", "ownerMarked", "payeeMarked")),
    ("max_cash_outs_per_minute", ("limit", "inLastMinute")),
    ("max_amount_per_hour", ("limit", "inLastHour", "amount")),
    ("new_payee_limit", ("limit", "knownPayee", "amount")),
    ("night_limit", ("limit", "window", "sentTonight", "amount")),
)


def upgrade() -> None:
    pass


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, decisions FROM risk_decisions")).all()
    changed = []
    for row in rows:
        entries = json.loads(row.decisions)
        if not any(isinstance(c, list) for e in entries for c in e["checks"]):
            continue
        for entry in entries:
            entry["checks"] = [_whole(c) for c in entry["checks"]]
        changed.append({"id": row.id, "decisions": json.dumps(entries, separators=(",", ":"))})
    if changed:
        conn.execute(
            sa.text("UPDATE risk_decisions SET decisions = :decisions WHERE id = :id"), changed
        )


def _whole(check: Any) -> Any:
    if not isinstance(check, list):
        return check
    rule, names = _PACKED[check[0]]
    return {"rule": rule, "passed": check[1], "inputs": dict(zip(names, check[2:], strict=True))}
