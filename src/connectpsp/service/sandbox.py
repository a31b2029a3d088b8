"""Sandbox actions: what a merchant may arrange in the simulated Pix network while it tests,
through the ports that network implements (``adapters/rails/simulated.py`` and
``adapters/rails/simulated_security.py``).

Each change also calls ``on_changed``: the composition root passes the DICT cache's
``invalidate``, so that this process's next look-up sees it at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from connectpsp.domain.cashout import Creditor
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.pix import PixKeyType
from connectpsp.domain.spi import ReasonCode
from connectpsp.service.security import FraudMarker, FraudType

__all__ = ["FraudMarkerRegistry", "SandboxDict", "SandboxFraudMarkers", "SandboxKeyRegistry"]


def _nothing() -> None:
    return None


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

    def __init__(
        self, registry: SandboxKeyRegistry, *, on_changed: Callable[[], None] = _nothing
    ) -> None:
        self._registry = registry
        self._on_changed = on_changed

    def register_key(
        self,
        key_type: PixKeyType,
        key: str,
        owner: Creditor,
        reject_with: ReasonCode | None = None,
    ) -> None:
        self._registry.register(key_type, key, owner, reject_with)
        self._on_changed()


class FraudMarkerRegistry(Protocol):
    """The sandbox DICT's fraud markers."""

    def add_marker(
        self, marker_type: FraudType, *, key: str | None = None, document: str | None = None
    ) -> FraudMarker:
        """Mark a key or a document (exactly one), from now on."""
        ...

    def remove_marker(self, marker_id: str) -> None:
        """Remove a marker in force; ``NotFound`` if there is none with that id."""
        ...


class SandboxFraudMarkers:
    """Fraud markers a merchant puts on keys and documents in the sandbox DICT, to see
    what its checks do with a marked payee, and takes off again."""

    def __init__(
        self, registry: FraudMarkerRegistry, *, on_changed: Callable[[], None] = _nothing
    ) -> None:
        self._registry = registry
        self._on_changed = on_changed

    def add(
        self,
        *,
        key: str | None = None,
        document: str | None = None,
        marker_type: FraudType = FraudType.SCAMMER_ACCOUNT,
    ) -> FraudMarker:
        if (key is None) == (document is None):
            raise ValidationFailed([FieldError("body", "must hold either key or document")])
        marker = self._registry.add_marker(marker_type, key=key, document=document)
        self._on_changed()
        return marker

    def remove(self, marker_id: str) -> None:
        self._registry.remove_marker(marker_id)
        self._on_changed()
