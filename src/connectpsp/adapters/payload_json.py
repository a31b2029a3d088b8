"""JSON for webhook payloads: ``Decimal`` amounts as JSON numbers with their two places
(50.00), never through a float; and the idempotency fingerprint's canonical JSON."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["canonical", "encode"]

_encoder = msgspec.json.Encoder(decimal_format="number")
# Keys sorted, compact, text as it is: for the plain values a fingerprint encodes, the
# bytes of ``service.fingerprints.canonical_json`` (``json.dumps``), in a tenth of the
# time; tests/unit/test_fingerprint.py holds the two equal.
_canonical = msgspec.json.Encoder(order="sorted")


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def canonical(value: Any) -> bytes:
    return _canonical.encode(value)
