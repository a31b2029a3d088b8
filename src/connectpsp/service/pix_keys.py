"""A client's own Pix keys, registered in DICT so that payers' PSPs find its account
with us: a Pix sent to one is a cash-in for it, with or without a charge."""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

from connectpsp.domain.clients import Client
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import (
    FieldError,
    NotFound,
    PixKeyAlreadyRegistered,
    StorageConflict,
    ValidationFailed,
)
from connectpsp.domain.ids import derived_evp
from connectpsp.domain.pix import PixKeyType, validate_pix_key
from connectpsp.service.ports import PixKey, UnitOfWorkFactory

__all__ = ["KeyDirectory", "PixKeys"]


class KeyDirectory(Protocol):
    """DICT, where a client's keys are registered so that payers' PSPs find us."""

    def register_own(self, key_type: PixKeyType, key: str, client: Client) -> None:
        """Register ``key`` as pointing to ``client``'s account with us;
        ``PixKeyAlreadyRegistered`` if it is anyone else's."""
        ...

    def remove_own(self, key: str) -> None: ...


class PixKeys:
    """A client's own Pix keys: EVP (we make it), EMAIL, PHONE, or its own CPF/CNPJ."""

    def __init__(self, uow: UnitOfWorkFactory, *, clock: Clock, directory: KeyDirectory) -> None:
        self._uow = uow
        self._clock = clock
        self._directory = directory

    def register(
        self, client: Client, key_type: PixKeyType, key: str | None, idempotency_key: str
    ) -> PixKey:
        """Register a key for ``client``. Retried with the same ``idempotency_key`` it
        answers with the key the first call registered (an EVP key is derived from it),
        and registers nothing more."""
        if key_type is PixKeyType.EVP:
            if key is not None:
                raise ValidationFailed([FieldError("key", "must be absent for EVP: we make it")])
            key = derived_evp(f"{client.id}:{idempotency_key}")
        elif key is None:
            raise ValidationFailed([FieldError("key", "is required for this key type")])
        try:
            validate_pix_key(key_type, key)
        except ValueError as error:
            raise ValidationFailed([FieldError("key", str(error))]) from None
        if key_type in (PixKeyType.CPF, PixKeyType.CNPJ) and key != client.document:
            raise ValidationFailed(
                [FieldError("key", "must be your own document, as registered with us")]
            )
        request = hashlib.sha256(f"{client.id}:{idempotency_key}".encode()).hexdigest()
        held = self._registered_by(request, key)
        if held is not None:
            return held
        self._directory.register_own(key_type, key, client)
        registered = PixKey(key, key_type.value, client.id, self._clock.now(), request)
        try:
            with self._uow(write=True) as uow:
                uow.pix_keys.add(registered)
                uow.commit()
        except StorageConflict:  # the same key, at the same moment
            held = self._registered_by(request, key)
            if held is None:
                raise
            return held
        return registered

    def _registered_by(self, request: str, key: str) -> PixKey | None:
        """The key if this very request registered it (a retry); None if nobody holds
        it; ``PixKeyAlreadyRegistered`` if another request did, ours or anyone's."""
        with self._uow() as uow:
            found = uow.pix_keys.get(key)
        if found is None:
            return None
        if found.request_key is None or not hmac.compare_digest(found.request_key, request):
            raise PixKeyAlreadyRegistered("This Pix key is already registered.")
        return found

    def of_client(self, client: Client) -> list[PixKey]:
        with self._uow() as uow:
            return uow.pix_keys.of_client(client.id)

    def delete(self, client: Client, key: str) -> None:
        with self._uow(write=True) as uow:
            if not uow.pix_keys.delete(client.id, key):
                raise NotFound(f"No Pix key {key} of yours.")
            uow.commit()
        self._directory.remove_own(key)

    def key_for_charges(self, client: Client) -> str:
        """The key a client's codes pay: its oldest; a client with none gets an EVP key."""
        keys = self.of_client(client)
        if keys:
            return keys[0].key
        # Derived from the client alone: two first charges at once register one key.
        return self.register(client, PixKeyType.EVP, None, "charges").key
