"""PostgreSQL's pipeline mode for a block of writes (``pipelined``): statements go out
without waiting for each answer, and those that read rows still get them."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, event, exc

__all__ = ["answer_in_pipeline", "may_answer", "pipelined"]


@contextlib.contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """A block whose statements need no answer before its end (or before one that reads
    rows): on PostgreSQL they go out together in psycopg's pipeline mode, so that a
    batch's writes cost one round trip, not one each. An error surfaces at the end, or at
    the next statement that reads, mapped as any other. Elsewhere nothing changes."""
    if conn.dialect.name != "postgresql":
        yield
        return
    raw = conn.connection.dbapi_connection
    assert raw is not None
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with raw.pipeline() as pipeline:  # a block inside another is the same pipeline
            outermost = "pipeline" not in conn.info
            conn.info["pipeline"] = pipeline
            try:
                yield
            finally:
                if outermost:
                    del conn.info["pipeline"]
    except dbapi_error as error:
        raise exc.DBAPIError.instance("(pipelined)", None, error, dbapi_error) from error


@functools.lru_cache(maxsize=512)
def may_answer(sql: str) -> bool:
    """Whether a statement can return rows: then, in a pipeline, its answer is waited for
    (psycopg knows a statement's columns only once its result is in). A ``WITH`` answers
    as its main statement does, whatever its parts do. (Cached: the hot texts are fixed.)"""
    text = sql.lstrip().upper()
    if "RETURNING" in text:
        return True
    if text.startswith("WITH"):
        text = _main_statement(text)
    return text.startswith("SELECT")


_TOKENS = re.compile(r"""[()'"]|(?<!\w)(?:SELECT|INSERT|UPDATE|DELETE|MERGE)\b""")


def _main_statement(text: str) -> str:
    """A ``WITH`` statement's text from its main statement on: the first statement word
    outside every part's parentheses and every quoted string ("" when none is found)."""
    depth, quote = 0, ""
    for token in _TOKENS.finditer(text):
        found = token.group()
        if quote:
            quote = "" if found == quote else quote
        elif found in "'\"":
            quote = found
        elif found == "(":
            depth += 1
        elif found == ")":
            depth -= 1
        elif depth == 0:
            return text[token.start() :]
    return ""


def answer_in_pipeline(engine: Engine) -> None:
    """A statement run through SQLAlchemy inside ``pipelined`` gets its rows too: the
    pipeline is synced before SQLAlchemy looks for them."""

    @event.listens_for(engine, "after_cursor_execute")
    def _sync(conn: Connection, _c: Any, sql: str, _p: Any, _x: Any, _m: bool) -> None:
        pipeline = conn.info.get("pipeline")
        if pipeline is not None and may_answer(sql):
            pipeline.sync()
