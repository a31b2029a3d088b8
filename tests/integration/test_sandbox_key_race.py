"""Processes starting at once on a fresh database each install the sandbox's demo keys
(``bootstrap.build``): a key registered by another between the check and the insert is
"already registered", never an IntegrityError that kills the process (seen with 6
processes starting together under compose)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from connectpsp.bootstrap import build
from connectpsp.domain.cashout import Creditor
from connectpsp.domain.errors import PixKeyAlreadyRegistered
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.settings import Settings
from tests.support import FakeClock

OWNER = Creditor("Ana Costa", "98765432100", "18236120", "0001", "1234", AccountType.PAYMENT)


def test_one_of_many_registering_a_key_at_once_wins_and_the_rest_are_told(
    db_settings: Settings,
) -> None:
    container = build(db_settings, clock=FakeClock())
    ready = threading.Barrier(8)

    def register(key: str) -> str:
        ready.wait()
        try:
            container.network.register(PixKeyType.EMAIL, key, OWNER)
        except PixKeyAlreadyRegistered:
            return "taken"
        return "registered"

    try:
        with ThreadPoolExecutor(8) as pool:
            for _ in range(10):  # the race is lost now and then, not every time
                key = f"race-{uuid.uuid4().hex[:8]}@example.com"
                outcomes = sorted(pool.map(register, [key] * 8))
                assert outcomes == ["registered"] + ["taken"] * 7
                assert container.network.lookup(PixKeyType.EMAIL, key) == OWNER
    finally:
        container.close()
