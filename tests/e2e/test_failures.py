"""Unexpected failures answer 500 INTERNAL_ERROR without internals; an unreachable database
answers 503 SERVICE_UNAVAILABLE. Neither leaves a reservation or a stuck idempotency key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine

from tests.support import RunningServer, cash_out_body, new_merchant


class ExplodingOutbox:
    def enqueue(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internal detail: disk on fire")


class BrokenOutbox:
    """A unit of work whose outbox fails mid-transaction (a fault we cannot cause for real)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __enter__(self) -> Any:
        entered = self.inner.__enter__()
        entered.outbox = ExplodingOutbox()
        return entered

    def __exit__(self, *exc: Any) -> None:
        self.inner.__exit__(*exc)


def test_unexpected_error_is_a_bare_500_and_rolls_back(server: RunningServer, monkeypatch) -> None:
    m = new_merchant(server, fund=10_000)
    factory = server.container.engine._uow

    def exploding_uow(**kwargs: Any) -> Any:
        return BrokenOutbox(factory(**kwargs))

    monkeypatch.setattr(server.container.engine, "_uow", exploding_uow)
    body, key = cash_out_body(), "explode-1"
    reply = m.cash_out(body, key=key)
    assert reply.status_code == 500
    assert reply.json() == {
        "error": {
            "code": "INTERNAL_ERROR",
            "message": "An unexpected error occurred.",
            "details": None,
        }
    }
    assert "disk on fire" not in reply.text
    assert reply.headers["x-request-id"]
    assert m.balance() == {"available": 100.00, "reserved": 0.00, "blocked": 0.00, "total": 100.00}

    monkeypatch.undo()
    retried = m.cash_out(body, key=key)  # the key was released: the retry goes through
    assert retried.status_code == 202
    assert "idempotent-replayed" not in retried.headers


def test_unreachable_database_is_503(server: RunningServer) -> None:
    m = new_merchant(server, fund=10_000)
    headers = m.headers(sign=False)
    db = server.container.db
    working = db.engine
    unreachable = (
        "sqlite:////proc/no-such-dir/connectpsp.db"
        if db.is_sqlite
        else "postgresql+psycopg://postgres@127.0.0.1:1/test"
    )
    db.engine = create_engine(unreachable)
    try:
        health = m.http.get("/healthz")
        assert health.status_code == 503
        assert health.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        reply = m.http.get("/balance", headers=headers)
        assert reply.status_code == 503
        assert reply.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert reply.headers["retry-after"] == "1"
    finally:
        db.engine.dispose()
        db.engine = working
    assert m.balance()["available"] == 100.00  # recovers on its own
