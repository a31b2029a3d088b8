"""The request fingerprint: a SHA-256 over a canonical JSON encoding of the flow's name and
the whole parsed request. Two requests that differ in any field, or that go to different
flows, differ; the acceptance engine compares it to tell a replay from another request
under the same ``X-Idempotency-Key``."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Callable
from typing import Any

__all__ = ["canonical_json", "fingerprint"]


def canonical_json(document: Any) -> bytes:
    """The canonical JSON every stored fingerprint was made with. The server is given a
    faster encoder that writes the same bytes (``adapters.payload_json.canonical``)."""
    text = json.dumps(
        document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return text.encode()


def fingerprint(
    flow_name: str, command: object, encode: Callable[[Any], bytes] = canonical_json
) -> str:
    """SHA-256 of the canonical JSON of the flow's name and the whole command."""
    document = {"flow": flow_name, "request": _canonical(command)}
    return hashlib.sha256(encode(document)).hexdigest()


def _canonical(value: object) -> Any:
    """Plain JSON values, each dataclass tagged with its type (a Pix key and a bank
    account with equal fields are still different requests)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value  # most values: checked first, by exact type (an enum is not one)
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        fields = {name: _canonical(getattr(value, name)) for name in names}
        return {"type": kind.__name__, "fields": fields}
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, bool | int | str):
        return value
    raise TypeError(f"{type(value).__name__} has no canonical form")


# Each dataclass's field names, read once: ``dataclasses.fields`` per value cost more
# than the encoding (every request is fingerprinted on the event loop).
_FIELDS: dict[type, tuple[str, ...]] = {}
