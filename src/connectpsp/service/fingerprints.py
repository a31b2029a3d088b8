"""The request fingerprint: a SHA-256 over a canonical JSON encoding of the flow's name and
the whole parsed request. Two requests that differ in any field, or that go to different
flows, differ; the acceptance engine compares it to tell a replay from another request
under the same ``X-Idempotency-Key``."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from typing import Any

__all__ = ["fingerprint"]


def fingerprint(flow_name: str, command: object) -> str:
    """SHA-256 of the canonical JSON of the flow's name and the whole command."""
    text = json.dumps(
        {"flow": flow_name, "request": _canonical(command)},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: object) -> Any:
    """Plain JSON values, each dataclass tagged with its type (a Pix key and a bank
    account with equal fields are still different requests)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, "fields": fields}
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"{type(value).__name__} has no canonical form")
