"""What AuthService remembers of a client, and when it forgets: over hand-written fakes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from connectpsp.domain.clients import Client
from connectpsp.domain.errors import Unauthorized
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
        self.changes = 0  # raised by every change to a client, in any process

    def generation(self) -> int:
        return self.changes

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


def test_a_change_made_elsewhere_is_followed_at_the_next_look() -> None:
    """Another process disabled the client: this one, which remembers it, forgets every
    client at its next look at the changes' number, and reads the client afresh."""
    clients = Clients(CLIENT)
    auth = auth_over(clients)
    assert auth.follow_changes()  # the first look forgets: it knew no number before
    auth.authenticate("Bearer token", APP_TOKEN)
    assert not auth.follow_changes()  # nothing changed: what is remembered stays
    assert auth.authenticate_from_memory("Bearer token", APP_TOKEN) is not None
    clients.client = replace(CLIENT, active=False)  # committed by another process
    clients.changes += 1
    assert auth.authenticate_from_memory("Bearer token", APP_TOKEN) is not None  # not yet
    assert auth.follow_changes()
    assert auth.authenticate_from_memory("Bearer token", APP_TOKEN) is None
    with pytest.raises(Unauthorized, match="disabled"):  # read again, and refused
        auth.authenticate("Bearer token", APP_TOKEN)
    assert clients.reads == 2


def test_a_read_that_a_followed_change_overtook_is_not_remembered() -> None:
    clients = Clients(CLIENT)
    auth = auth_over(clients)
    auth.follow_changes()

    def changed_and_followed_meanwhile() -> None:
        clients.client = replace(CLIENT, active=False)
        clients.changes += 1
        auth.follow_changes()

    clients.during_read = changed_and_followed_meanwhile
    assert auth.authenticate("Bearer token", APP_TOKEN).client.active  # the stale read
    assert auth.authenticate_from_memory("Bearer token", APP_TOKEN) is None
