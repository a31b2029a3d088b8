"""Our clients' own keys in the simulated DICT."""

from __future__ import annotations

import hashlib

from connectpsp.adapters.rails.simulated import SimulatedPixNetwork
from connectpsp.domain.cashout import Creditor
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import PixKeyAlreadyRegistered
from connectpsp.domain.pix import AccountType, PixKeyType

__all__ = ["OwnKeys"]


class OwnKeys:
    """Our clients' keys in the simulated DICT: each points to the client's account with
    us (``ispb``, branch 0001, an account number derived from its id), so a payer's PSP,
    and our own cash-outs, find it."""

    def __init__(self, network: SimulatedPixNetwork, *, ispb: str) -> None:
        self._network = network
        self._ispb = ispb

    def owner(self, client: Client) -> Creditor:
        digest = int.from_bytes(hashlib.sha256(client.id.encode()).digest()[:8], "big")
        account = str(1_000_000_000 + digest % 9_000_000_000)
        # DICT names a key's owner by CPF/CNPJ; a client registered without one has ""
        return Creditor(
            client.name, client.document or "", self._ispb, "0001", account, AccountType.PAYMENT
        )

    def register_own(self, key_type: PixKeyType, key: str, client: Client) -> None:
        owner = self.owner(client)
        try:
            self._network.register(key_type, key, owner)
        except PixKeyAlreadyRegistered:
            # Ours already: a registration that died before we stored the key.
            found = self._network.lookup(key_type, key)
            if found is None or (found.ispb, found.account) != (owner.ispb, owner.account):
                raise

    def remove_own(self, key: str) -> None:
        self._network.unregister(key)
