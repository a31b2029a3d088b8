"""Scratch databases, and merchants ready to send cash-outs."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import create_engine, text

from connectpsp.adapters.crypto import AesGcmCipher
from connectpsp.bootstrap import Container
from connectpsp.domain.clients import ClientCredentials
from connectpsp.domain.clock import SAO_PAULO
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.risk import RiskRules
from connectpsp.service.auth import signature_for
from connectpsp.service.clients import ClientService
from connectpsp.settings import Settings

from .load import Caller

__all__ = ["Merchant", "create_merchants", "every_rule", "login", "scratch_database"]

# Enough for any run: a cash-out is 0.01 plus a 0.01 fee.
FUNDS = 100_000_000_00


@dataclass(frozen=True)
class Merchant:
    creds: ClientCredentials
    client_id: str


class _QuickArgon2:
    """argon2id at its cheapest settings, for bench merchants only.

    The production hasher takes tens of milliseconds per hash by design; 1,000 merchants
    would spend a minute hashing at creation and again at login. The hashes are still
    argon2id, and the server verifies them with the parameters stored in each hash."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, stored: str, secret: str) -> bool:
        try:
            return self._hasher.verify(stored, secret)
        except (VerificationError, InvalidHashError):
            return False


@contextmanager
def scratch_database(kind: str, tmp: Path, name: str, pg_url: str) -> Iterator[Settings]:
    """Settings for a fresh database: a SQLite file under ``tmp``, or a PostgreSQL schema
    that is dropped afterwards."""
    base = Settings(
        master_key=secrets.token_bytes(32),
        var_dir=tmp,
        sandbox_latency_ms=0,
        worker_poll_ms=20,
        token_failures_per_ip=1_000_000,
        token_failures_per_client=1_000_000,
    )
    if kind == "sqlite":
        yield replace(base, database_url=f"sqlite:///{tmp / (name + '.db')}")
        return
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield replace(base, database_url=pg_url, database_schema=schema)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def create_merchants(container: Container, count: int, *, fee: int) -> list[Merchant]:
    """``count`` funded merchants, created in-process (faster than one CLI call each)."""
    settings = container.settings
    service = ClientService(
        container.uow,
        clock=container.clock,
        hasher=_QuickArgon2(),
        cipher=AesGcmCipher(settings.master_key),
        default_fee_plan=FeePlan(fixed=fee),
        default_per_transaction_limit=settings.default_per_transaction_limit,
        default_daily_limit=100_000_000_00,
    )
    merchants = []
    for n in range(count):
        creds = service.create(f"bench-{n}")
        service.fund(creds.client_id, FUNDS)
        merchants.append(Merchant(creds, creds.client_id))
    return merchants


def every_rule(now: datetime) -> RiskRules:
    """Every one of a client's own rules set, none of which the bench can trip: counts and
    amounts far above what it sends (0.01 at a time, a few thousand a second, to one
    payee), and a night window that began a few minutes ago and ends a day later, so that
    the night rule runs too, and every rule reads the client's history."""
    local = now.astimezone(SAO_PAULO) - timedelta(minutes=10)
    start = local.time().replace(second=0, microsecond=0)
    end = (local - timedelta(minutes=1)).time().replace(second=0, microsecond=0)
    return RiskRules(
        max_cash_outs_per_minute=1_000_000_000,
        max_amount_per_hour=10**12,
        new_payee_limit=1_000_00,  # above one cash-out: the first to the payee passes
        night_limit=10**12,
        night_start=start,
        night_end=end,
    )


def login(base_url: str, merchants: list[Merchant]) -> tuple[Caller, ...]:
    """An access token for each merchant, through ``POST /auth/token``, and the headers
    that go with it."""

    def one(http: httpx.Client, merchant: Merchant) -> Caller:
        creds = merchant.creds
        reply = http.post(
            "/auth/token", json={"clientId": creds.client_id, "clientSecret": creds.client_secret}
        )
        reply.raise_for_status()
        token = reply.json()["accessToken"]
        return Caller(token, creds.application_token, signature_for(token, creds.crypto_token))

    with (
        httpx.Client(base_url=base_url, timeout=30) as http,
        ThreadPoolExecutor(8) as pool,
    ):
        return tuple(pool.map(lambda m: one(http, m), merchants))
