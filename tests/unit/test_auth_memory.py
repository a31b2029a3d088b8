"""What AuthService remembers of a client, and when it forgets: over hand-written fakes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from connectpsp.domain.clients import Client
from connectpsp.domain.ledger import FeePlan
from connectpsp.service.auth import SECRET_CLAIM, AuthService, secret_fingerprint
from connectpsp.service.clients import token_digest

APP_TOKEN = "at_test"
CLIENT = Client(
    id="c-1",
    name="remembered",
    fee_plan=FeePlan(),
    per_transaction_limit=1_000_00,
    daily_limit=10_000_00,
    active=True,
    created_at=datetime(2025, 1, 1, tzinfo=UTC),
    secret_hash="unused",
    crypto_token_enc="unused",
    app_token_hash=token_digest(APP_TOKEN),
    webhook_secret_enc="unused",
)


class Clients:
    """The stored client; ``during_read`` runs between the read and its answer, as a
    change committed by someone else while the read was on its way back."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.reads = 0
        self.during_read: Callable[[], None] = lambda: None

    def get(self, client_id: str) -> Client | None:
        self.reads += 1
        found = self.client if client_id == self.client.id else None
        self.during_read()
        return found


class Session:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_: object) -> None:
        pass


class Tokens:
    """Every token names CLIENT, and was issued for its clientSecret."""

    def issue(self, subject: str, extra: Mapping[str, str] | None = None) -> tuple[str, int]:
        return "token", 3600

    def decode(self, token: str) -> dict[str, object]:
        return {"sub": CLIENT.id, SECRET_CLAIM: secret_fingerprint(CLIENT.secret_hash)}


def auth_over(clients: Clients) -> AuthService:
    unused: Any = None

    def sessions(**_: object) -> Any:  # a UnitOfWork as far as AuthService reads one
        return Session(clients)

    return AuthService(
        sessions,
        hasher=unused,
        cipher=unused,
        tokens=Tokens(),
        throttle=unused,  # authenticating never asks the token throttle
    )


def test_a_forgotten_client_is_read_again() -> None:
    clients = Clients(CLIENT)
    auth = auth_over(clients)
    auth.authenticate("Bearer token", APP_TOKEN)
    assert auth.authenticate_from_memory("Bearer token", APP_TOKEN) is not None  # remembered
    clients.client = replace(CLIENT, active=False)
    auth.forget(CLIENT.id)
    assert auth.authenticate_from_memory("Bearer token", APP_TOKEN) is None
    assert clients.reads == 1


def test_a_read_that_a_forget_overtook_is_not_remembered() -> None:
    """The client is disabled (and forgotten) while a request's read of it, still active,
    is on its way back: that request may pass, but the stale record must not be
    remembered, or the disabled client would be let in from memory for 30 s."""
    clients = Clients(CLIENT)
    auth = auth_over(clients)

    def disabled_meanwhile() -> None:
        clients.client = replace(CLIENT, active=False)
        auth.forget(CLIENT.id)

    clients.during_read = disabled_meanwhile
    assert auth.authenticate("Bearer token", APP_TOKEN).client.active  # the stale read
    assert auth.authenticate_from_memory("Bearer token", APP_TOKEN) is None
