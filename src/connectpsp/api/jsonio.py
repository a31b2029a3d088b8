"""JSON at the edge: numbers decode to ``Decimal`` (never float) and ``Decimal`` amounts
encode as JSON numbers with their two places (50.00)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from connectpsp.domain.errors import ConnectPSPError

__all__ = ["InvalidJson", "PayloadTooLarge", "decode", "encode"]

_encoder = msgspec.json.Encoder(decimal_format="number")
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(float_hook=Decimal)


class InvalidJson(ConnectPSPError):
    code = "INVALID_JSON"
    default_message = "The request body is not valid JSON."


class PayloadTooLarge(ConnectPSPError):
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def decode(body: bytes) -> Any:
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as error:
        raise InvalidJson(f"The request body is not valid JSON: {error}.") from None
    except ArithmeticError:  # a number like 1e9999999999999999999: no Decimal holds it
        raise InvalidJson("The request body has a number out of range.") from None
