"""Sandbox actions: what a merchant may arrange in the simulated Pix network while it tests,
through the port that network implements (``adapters/rails/simulated.py``)."""

from __future__ import annotations

from typing import Protocol

from connectpsp.domain.cashout import Creditor
from connectpsp.domain.pix import PixKeyType
from connectpsp.domain.spi import ReasonCode

__all__ = ["SandboxDict", "SandboxKeyRegistry"]


class SandboxKeyRegistry(Protocol):
    """The sandbox DICT's key directory."""

    def register(
        self,
        key_type: PixKeyType,
        key: str,
        owner: Creditor,
        reject_with: ReasonCode | None = None,
    ) -> None:
        """Add a key pointing at ``owner``'s account; payments to that account are then
        rejected by SPI with ``reject_with``, if given. ``PixKeyAlreadyRegistered`` if the
        key is taken, ``ValidationFailed`` if a CPF or CNPJ key is not ``owner``'s own
        document."""
        ...


class SandboxDict:
    """Keys a merchant registers in the sandbox DICT, so that its cash-outs to them
    resolve (and settle, or fail with the reason it chose)."""

    def __init__(self, registry: SandboxKeyRegistry) -> None:
        self._registry = registry

    def register_key(
        self,
        key_type: PixKeyType,
        key: str,
        owner: Creditor,
        reject_with: ReasonCode | None = None,
    ) -> None:
        self._registry.register(key_type, key, owner, reject_with)
