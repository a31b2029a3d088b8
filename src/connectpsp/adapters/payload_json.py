"""JSON for webhook payloads: ``Decimal`` amounts as JSON numbers with their two places
(50.00), never through a float."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["encode"]

_encoder = msgspec.json.Encoder(decimal_format="number")


def encode(value: Any) -> bytes:
    return _encoder.encode(value)
