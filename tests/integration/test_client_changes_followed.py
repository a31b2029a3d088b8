"""A change to a client made by another process (``connectpsp clients disable``, say)
shows in a running server within a second, on both databases: every change raises a
number in its own transaction, and each server looks at it every second
(``AuthService.follow_changes``), forgetting the clients it remembers when it moved."""

from __future__ import annotations

import pytest

from connectpsp.bootstrap import Container, build
from connectpsp.domain.errors import NotFound, Unauthorized
from connectpsp.domain.risk import RiskRules
from connectpsp.service.clients import ClientChanges
from connectpsp.settings import Settings
from tests.support import FakeClock


def changes(container: Container) -> int:
    with container.uow() as uow:
        return uow.clients.generation()


def test_every_change_to_a_client_raises_the_number(container: Container) -> None:
    clients = container.clients
    client_id = clients.create("changing").client_id
    before = changes(container)
    clients.update(client_id, ClientChanges(name="Renamed"))
    assert changes(container) == before + 1
    clients.set_risk(client_id, RiskRules(max_cash_outs_per_minute=5))
    assert changes(container) == before + 2
    clients.rotate_secret(client_id)
    assert changes(container) == before + 3
    clients.set_active(client_id, False)
    assert changes(container) == before + 4
    clients.set_active(client_id, True)
    assert changes(container) == before + 5
    with pytest.raises(NotFound):
        clients.update("no-such-client", ClientChanges(name="x"))
    assert changes(container) == before + 5  # nothing written, nothing raised


def test_a_server_forgets_a_client_another_process_disabled(db_settings: Settings) -> None:
    serving = build(db_settings, clock=FakeClock())
    operator = build(db_settings, clock=FakeClock())  # the CLI: another process
    try:
        creds = serving.clients.create("followed")
        token, _ = serving.auth.issue_token(creds.client_id, creds.client_secret, "10.0.0.1")
        bearer = f"Bearer {token}"
        serving.follow_client_changes()
        assert serving.auth.authenticate(bearer, creds.application_token).client.active
        assert not serving.follow_client_changes()  # nothing changed: it stays remembered
        operator.clients.set_active(creds.client_id, False)
        # Until the next look, the server answers from what it remembers...
        assert serving.auth.authenticate_from_memory(bearer, creds.application_token)
        # ...and the look that sees the change forgets it: the client is read again.
        assert serving.follow_client_changes()
        assert serving.auth.authenticate_from_memory(bearer, creds.application_token) is None
        with pytest.raises(Unauthorized, match="disabled"):
            serving.auth.authenticate(bearer, creds.application_token)
    finally:
        operator.close()
        serving.close()
