"""The location signing keys in the database, on SQLite and PostgreSQL: made once at the
first start, stored encrypted, the same after a restart, one key however many processes
start at once, and a rotation every process sees."""

from __future__ import annotations

import base64
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from connectpsp.adapters.crypto import AesGcmCipher
from connectpsp.adapters.location_signing import (
    PUBLISH_BEFORE_SIGNING,
    thumbprint,
)
from connectpsp.adapters.location_verify import jws_header, verify_location
from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.location_keys import SqlLocationKeyStore
from connectpsp.adapters.storage.migrate import upgrade
from connectpsp.bootstrap import Container, build
from connectpsp.domain.pix_location import ChargeStatus, location_payload
from connectpsp.service.ports import StoredLocationKey
from connectpsp.settings import Settings, SettingsError
from tests.support import FakeClock, database

PAYLOAD = location_payload(
    txid="7978c0c97ea847e78e8849634473c1f1",
    created_at=FakeClock().now(),
    presented_at=FakeClock().now(),
    expires_in=600,
    amount=25_00,
    pix_key="+5511999990000",
    description=None,
    status=ChargeStatus.ACTIVE,
    revision=1,
)


def rows(container: Container) -> list[tuple[str, str]]:
    keys = t.location_keys.c
    with container.db.transaction(write=False) as tx:
        found = tx.conn.execute(select(keys.kid, keys.private_key_enc)).all()
    return [(r.kid, r.private_key_enc) for r in found]


def test_the_first_start_makes_one_key_stored_encrypted(container: Container) -> None:
    ((kid, sealed),) = rows(container)
    assert sealed.startswith("v1.")
    pem = AesGcmCipher(container.settings.master_key).decrypt(sealed, context=f"location-key:{kid}")
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert thumbprint(private.public_key()) == kid
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    stored = base64.urlsafe_b64decode(sealed.removeprefix("v1."))
    assert "PRIVATE KEY" not in sealed and pem.splitlines()[1] not in sealed
    assert der[40:72] not in stored  # not the key in clear, in any encoding
    assert [k["kid"] for k in container.locations.jwks()["keys"]] == [kid]


def test_a_restart_keeps_the_key_and_what_it_signed_verifies(container: Container) -> None:
    signed_before = container.locations.sign(PAYLOAD)
    restarted = build(container.settings, clock=FakeClock())
    try:
        assert rows(restarted) == rows(container)
        assert restarted.locations.jwks() == container.locations.jwks()
        assert jws_header(restarted.locations.sign(PAYLOAD))["kid"] == rows(container)[0][0]
        assert verify_location(signed_before, restarted.locations.jwks()) == PAYLOAD
    finally:
        restarted.close()


def test_another_master_key_cannot_read_the_keys(db_settings: Settings, tmp_path: Path) -> None:
    kind = "sqlite" if db_settings.database_url.startswith("sqlite") else "postgres"
    with database(kind, tmp_path) as settings:
        build(settings, clock=FakeClock()).close()
        first = Database(settings.database_url, schema=settings.database_schema)
        with first.transaction(write=True) as tx:  # so that only the location key is left
            tx.conn.execute(t.signing_keys.delete())
            tx.commit()
        first.dispose()
        with pytest.raises(SettingsError, match="CONNECTPSP_MASTER_KEY does not match"):
            build(replace(settings, master_key=b"o" * 32), clock=FakeClock())


def test_processes_starting_at_once_make_a_single_key(
    db_settings: Settings, tmp_path: Path
) -> None:
    """Each store on its own pool, as in separate processes; all find the table empty
    and offer their key in the same instant: one is stored."""
    kind = "sqlite" if db_settings.database_url.startswith("sqlite") else "postgres"
    with database(kind, tmp_path) as settings:
        dbs = [Database(settings.database_url, schema=settings.database_schema) for _ in range(8)]
        upgrade(dbs[0], schema=settings.database_schema)
        stores = [SqlLocationKeyStore(db) for db in dbs]
        now = FakeClock().now()
        offers = [StoredLocationKey(f"kid-{i}", "v1.sealed", now) for i in range(len(stores))]
        start = threading.Barrier(len(stores))
        stored: list[bool] = []

        def offer(store: SqlLocationKeyStore, key: StoredLocationKey) -> None:
            assert store.all() == []
            start.wait()
            stored.append(store.add_first(key))

        threads = [
            threading.Thread(target=offer, args=pair) for pair in zip(stores, offers, strict=True)
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(stored) == [False] * (len(stores) - 1) + [True]
            assert len(stores[0].all()) == 1
        finally:
            for db in dbs:
                db.dispose()


def test_a_rotation_is_stored_and_seen_by_a_process_started_later(
    db_settings: Settings, tmp_path: Path
) -> None:
    kind = "sqlite" if db_settings.database_url.startswith("sqlite") else "postgres"
    with database(kind, tmp_path) as settings:
        clock = FakeClock()
        first = build(settings, clock=clock)
        try:
            (old,) = [k["kid"] for k in first.locations.jwks()["keys"]]
            new = first.locations.rotate()
            later = build(settings, clock=clock)
            try:
                assert {k["kid"] for k in later.locations.jwks()["keys"]} == {old, new}
                assert jws_header(later.locations.sign(PAYLOAD))["kid"] == old
                clock.advance(seconds=PUBLISH_BEFORE_SIGNING.total_seconds())
                signed = later.locations.sign(PAYLOAD)
                assert jws_header(signed)["kid"] == new
                assert verify_location(signed, first.locations.jwks()) == PAYLOAD
            finally:
                later.close()
        finally:
            first.close()
