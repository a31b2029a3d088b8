"""Liveness and readiness on a real server, on both databases: /livez answers 200 whatever
the database does; /readyz answers 200 only while the database answers and is at this
version's newest migration, and 503 with a stable code otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text

from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.migrate import alembic_config, head_revision
from tests.support import PG_ADMIN_URL, RunningServer, pg_schema


@contextmanager
def engine_swapped(db: Database, engine: Engine) -> Iterator[None]:
    """The server's database replaced by ``engine`` while the block runs."""
    working = db.engine
    db.engine = engine
    try:
        yield
    finally:
        engine.dispose()
        db.engine = working


@contextmanager
def never_migrated(db: Database, tmp: Path) -> Iterator[Engine]:
    """An empty database of ``db``'s kind: it answers, and holds no ConnectPSP schema."""
    if db.is_sqlite:
        yield create_engine(f"sqlite:///{tmp / 'empty.db'}")
        return
    with pg_schema() as schema:
        yield create_engine(PG_ADMIN_URL, connect_args={"options": f"-c search_path={schema}"})


def probe(server: RunningServer) -> tuple[httpx.Response, httpx.Response]:
    """(GET /readyz, GET /livez)."""
    return httpx.get(f"{server.base_url}/readyz"), httpx.get(f"{server.base_url}/livez")


def assert_not_ready(reply: httpx.Response, code: str) -> None:
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["code"] == code
    assert reply.headers["retry-after"] == "1"


def test_ready_and_live_on_a_migrated_database(server: RunningServer) -> None:
    ready, live = probe(server)
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    assert (live.status_code, live.json()) == (200, {"status": "ok"})


def test_not_ready_on_a_database_behind_this_version(server: RunningServer) -> None:
    # As after restoring a backup taken before an upgrade: one revision behind the code.
    head = head_revision()
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str)
    stamp = text("UPDATE alembic_version SET version_num = :revision")
    engine = server.container.db.engine
    with engine.begin() as conn:
        conn.execute(stamp, {"revision": previous})
    try:
        ready, live = probe(server)
    finally:
        with engine.begin() as conn:
            conn.execute(stamp, {"revision": head})
    assert_not_ready(ready, "DATABASE_NOT_MIGRATED")
    assert "connectpsp migrate" in ready.json()["error"]["message"]
    assert live.status_code == 200
    assert probe(server)[0].status_code == 200  # ready again once migrated


def test_not_ready_on_a_database_never_migrated(server: RunningServer, tmp_path: Path) -> None:
    db = server.container.db
    with never_migrated(db, tmp_path) as empty, engine_swapped(db, empty):
        ready, live = probe(server)
    assert_not_ready(ready, "DATABASE_NOT_MIGRATED")
    assert live.status_code == 200


def test_not_ready_but_live_when_the_database_is_gone(server: RunningServer) -> None:
    db = server.container.db
    unreachable = (
        "sqlite:////proc/no-such-dir/connectpsp.db"
        if db.is_sqlite
        else "postgresql+psycopg://postgres@127.0.0.1:1/test"
    )
    with engine_swapped(db, create_engine(unreachable)):
        ready, live = probe(server)
        health = httpx.get(f"{server.base_url}/healthz")
    assert_not_ready(ready, "SERVICE_UNAVAILABLE")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert health.status_code == 503  # /healthz keeps its meaning: the database answers
    assert probe(server)[0].status_code == 200  # ready again on its own
