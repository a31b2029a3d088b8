"""Watching the SQL a piece of code runs: SQLAlchemy's statements and those run on the
cursor itself (``db.run_sql``), each handed to ``seen``."""

from __future__ import annotations

from typing import Any, Self

import pytest
from sqlalchemy import Engine, event

from connectpsp.adapters.storage import db


class WatchStatements:
    """A context manager; a subclass says in ``seen`` what it makes of each statement,
    given with its whitespace collapsed and in upper case. ``engine``: one engine's
    statements, or ``Engine`` itself for every engine's, those made meanwhile too."""

    def __init__(self, engine: Engine | type[Engine], monkeypatch: pytest.MonkeyPatch) -> None:
        self._engine = engine
        self._monkeypatch = monkeypatch

    def seen(self, sql: str) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        event.listen(self._engine, "before_cursor_execute", self._sqlalchemy)
        on_cursor = db._on_cursor

        def _cursor(conn: Any, sql: str, params: Any, *, many: bool) -> Any:
            self._seen(sql)
            return on_cursor(conn, sql, params, many=many)

        self._monkeypatch.setattr(db, "_on_cursor", _cursor)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._sqlalchemy)
        self._monkeypatch.undo()

    def _sqlalchemy(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self._seen(statement)

    def _seen(self, statement: str) -> None:
        self.seen(" ".join(statement.split()).upper())
