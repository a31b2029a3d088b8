"""Which statements a pipeline waits for (``may_answer``): those that can return rows. A
``WITH`` answers as its main statement does, whatever its parts do; the words inside a
part's parentheses or a quoted string do not count."""

from __future__ import annotations

import pytest

from connectpsp.adapters.storage.pipeline import may_answer
from connectpsp.adapters.storage.risk import _RECORD_ARRAYS, _record_sql


@pytest.mark.parametrize(
    ("sql", "answers"),
    [
        ("SELECT 1", True),
        ("  select 1", True),
        ("INSERT INTO t VALUES (1)", False),
        ("UPDATE t SET x = 1 WHERE id = ? RETURNING x", True),
        ("WITH a AS (SELECT 1) SELECT * FROM a", True),
        ("WITH a AS (INSERT INTO t VALUES (1)) SELECT count(*) FROM t", True),
        ("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", False),
        ("WITH a AS (DELETE FROM t) UPDATE u SET x = 1", False),
        ("""WITH "select" AS (SELECT ')' AS x) UPDATE t SET x = 1""", False),
        ("with my_select as (select '(' AS y) select 2", True),
        ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r", True),
    ],
)
def test_a_statement_is_waited_for_when_it_can_return_rows(sql: str, answers: bool) -> None:
    assert may_answer(sql) is answers


def test_the_risk_records_statements_are_writes() -> None:
    assert not may_answer(_record_sql(3, 1, 0))
    assert not may_answer(_record_sql(3, 1, 2))
    assert not may_answer(_RECORD_ARRAYS)
