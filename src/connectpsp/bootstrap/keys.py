"""What a process opens or decrypts before it serves: the PSP's own ledger accounts and
the access tokens' signing keys (encrypted at rest under the master key)."""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag

from connectpsp.domain.clock import Clock
from connectpsp.domain.ledger import PSP_FEES, PSP_SETTLEMENT, WORLD
from connectpsp.service.ports import Cipher, UnitOfWorkFactory
from connectpsp.settings import SettingsError

__all__ = ["master_key_mismatch", "open_psp_accounts", "signing_keys"]


def open_psp_accounts(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as u:
        for code in (PSP_SETTLEMENT, PSP_FEES, WORLD):
            u.ledger.open_account(code, client_id=None, no_overdraft=False)
        u.commit()


def signing_keys(
    uow: UnitOfWorkFactory, cipher: Cipher, clock: Clock, *, create: bool
) -> dict[str, bytes]:
    """The access-token signing keys, decrypted; the first start makes one."""
    with uow(write=create) as u:
        stored = u.keys.all()
        if not stored and create:
            now = clock.now()
            kid = now.strftime("%Y%m%d%H%M%S") + secrets.token_hex(4)
            secret = secrets.token_urlsafe(32)
            stored = {kid: cipher.encrypt(secret, context=f"signing-key:{kid}")}
            u.keys.add(kid, stored[kid], now)
            u.commit()
    try:
        return {
            kid: cipher.decrypt(enc, context=f"signing-key:{kid}").encode()
            for kid, enc in stored.items()
        }
    except InvalidTag:
        raise master_key_mismatch() from None


def master_key_mismatch() -> SettingsError:
    return SettingsError(
        "CONNECTPSP_MASTER_KEY does not match the key this database's secrets were encrypted with"
    )
