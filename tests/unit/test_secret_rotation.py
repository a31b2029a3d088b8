"""Rotating a client's clientSecret, over in-memory fakes, in milliseconds: the old
secret gets no token, the tokens issued for it are refused (in this process at once, in
another once it reads the client again), the new secret works, and the rest of the
client stays as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import pytest

from connectpsp.domain.errors import InvalidCredentials, NotFound, Unauthorized
from connectpsp.domain.ledger import FeePlan
from connectpsp.service.auth import SECRET_CLAIM, AuthService, secret_fingerprint
from connectpsp.service.clients import ClientService
from tests.fakes import FakeHasher, Services, fake_services
from tests.unit.test_client_changes import Throttle

IP = "127.0.0.1"


class Tokens:
    """A token is its claims as JSON: what a real codec signs, unsigned."""

    def issue(self, subject: str, extra: Mapping[str, str] | None = None) -> tuple[str, int]:
        return json.dumps({**(extra or {}), "sub": subject}), 3600

    def decode(self, token: str) -> dict[str, object]:
        claims: dict[str, object] = json.loads(token)
        return claims


@dataclass
class Process:
    """One server process: its own AuthService, and the clients' service that tells it
    when a client changed."""

    auth: AuthService
    clients: ClientService


def process(s: Services) -> Process:
    auth = AuthService(
        s.db,
        hasher=FakeHasher(),
        cipher=s.cipher,
        tokens=Tokens(),
        throttle=Throttle(),  # type: ignore[arg-type]  # counts nothing here
    )
    clients = ClientService(
        s.db,
        clock=s.clock,
        hasher=FakeHasher(),
        cipher=s.cipher,
        default_fee_plan=FeePlan(),
        default_per_transaction_limit=100_00,
        default_daily_limit=1_000_00,
        on_changed=auth.forget,
    )
    return Process(auth, clients)


@pytest.fixture
def s() -> Iterator[Services]:
    with fake_services() as services:
        yield services


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_the_old_secret_and_its_tokens_are_refused_and_the_new_one_works(s: Services) -> None:
    p = process(s)
    creds = p.clients.create("Loja", fee_plan=FeePlan(fixed=7))
    app = creds.application_token
    old_token, _ = p.auth.issue_token(creds.client_id, creds.client_secret, IP)
    assert p.auth.authenticate(bearer(old_token), app).client.id == creds.client_id
    before = p.clients.get(creds.client_id)
    assert before.secret_rotated_at is None

    s.clock.advance(minutes=5)
    new = p.clients.rotate_secret(creds.client_id)
    assert new.client_secret.startswith("cs_") and new.client_secret != creds.client_secret
    assert new.client_secret not in repr(new)  # a log of it shows no secret
    after = p.clients.get(creds.client_id)
    assert after.secret_rotated_at == new.rotated_at == s.clock.now()
    assert FakeHasher().verify(after.secret_hash, new.client_secret)
    assert new.client_secret not in repr(after)
    # Nothing else moves: fees, limits, the other credentials.
    assert replace(after, secret_hash=before.secret_hash, secret_rotated_at=None) == before

    with pytest.raises(InvalidCredentials):
        p.auth.issue_token(creds.client_id, creds.client_secret, IP)
    with pytest.raises(Unauthorized, match="replaced"):
        p.auth.authenticate(bearer(old_token), app)
    assert p.auth.authenticate_from_memory(bearer(old_token), app) is None
    new_token, _ = p.auth.issue_token(creds.client_id, new.client_secret, IP)
    assert p.auth.authenticate(bearer(new_token), app).client.secret_rotated_at is not None
    assert p.auth.authenticate_from_memory(bearer(new_token), app) is not None


def test_another_process_reads_the_client_again_for_a_token_of_the_new_secret(
    s: Services,
) -> None:
    here, there = process(s), process(s)
    creds = here.clients.create("Loja")
    app = creds.application_token
    old_token, _ = here.auth.issue_token(creds.client_id, creds.client_secret, IP)
    there.auth.authenticate(bearer(old_token), app)  # remembered there
    new = here.clients.rotate_secret(creds.client_id)
    new_token, _ = here.auth.issue_token(creds.client_id, new.client_secret, IP)
    # There, the remembered client names the old secret: the new token makes it read the
    # client again, rather than refuse it for CLIENT_CACHE_SECONDS.
    assert there.auth.authenticate_from_memory(bearer(new_token), app) is None
    assert there.auth.authenticate(bearer(new_token), app).client.id == creds.client_id
    with pytest.raises(Unauthorized, match="replaced"):
        there.auth.authenticate(bearer(old_token), app)
    # Here (where it was rotated) the old token is refused from memory too.
    with pytest.raises(Unauthorized, match="replaced"):
        here.auth.authenticate(bearer(old_token), app)


def test_a_token_that_names_no_secret_is_refused(s: Services) -> None:
    p = process(s)
    creds = p.clients.create("Loja")
    app = creds.application_token
    for claims in ({"sub": creds.client_id}, {"sub": creds.client_id, SECRET_CLAIM: 7}):
        with pytest.raises(Unauthorized, match="invalid"):
            p.auth.authenticate(bearer(json.dumps(claims)), app)
        with pytest.raises(Unauthorized, match="invalid"):
            p.auth.authenticate_from_memory(bearer(json.dumps(claims)), app)


def test_each_rotation_makes_a_new_fingerprint_and_a_disabled_client_stays_disabled(
    s: Services,
) -> None:
    p = process(s)
    creds = p.clients.create("Loja")
    p.clients.set_active(creds.client_id, False)
    seen = {secret_fingerprint(p.clients.get(creds.client_id).secret_hash)}
    for _ in range(3):
        new = p.clients.rotate_secret(creds.client_id)
        client = p.clients.get(creds.client_id)
        seen.add(secret_fingerprint(client.secret_hash))
        assert not client.active
        with pytest.raises(InvalidCredentials, match="disabled"):  # the right secret
            p.auth.issue_token(creds.client_id, new.client_secret, IP)
    assert len(seen) == 4


def test_rotating_an_unknown_client_is_not_found_and_changes_nothing(s: Services) -> None:
    p = process(s)
    creds = p.clients.create("Loja")
    with pytest.raises(NotFound):
        p.clients.rotate_secret("no-such-client")
    assert p.clients.get(creds.client_id).secret_rotated_at is None


def test_a_chosen_client_id_is_kept(s: Services) -> None:
    p = process(s)
    chosen = "0b5f3c1e-7d2a-4c59-9e61-3f8a2b7c4d10"
    creds = p.clients.create("Loja", client_id=chosen)
    assert creds.client_id == chosen and p.clients.get(chosen).name == "Loja"


def test_the_jwt_codec_carries_the_claim_and_never_lets_it_replace_its_own() -> None:
    from datetime import timedelta

    from connectpsp.adapters.crypto import JwtCodec
    from tests.fakes import FixedClock

    codec = JwtCodec(
        {"k1": b"s" * 32},
        issuer="connectpsp",
        audience="connectpsp-api",
        ttl=timedelta(hours=1),
        clock=FixedClock(),
    )
    token, _ = codec.issue("client-1", {SECRET_CLAIM: "abc", "sub": "another", "exp": "0"})
    claims = codec.decode(token)
    assert (claims["sub"], claims[SECRET_CLAIM]) == ("client-1", "abc")
    assert isinstance(claims["exp"], int)
