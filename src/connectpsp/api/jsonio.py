"""JSON at the edge.

Decoding is strict, the same for every route, before any model sees the body:
- UTF-8 only; numbers with a fraction or exponent decode to ``Decimal``, never ``float``;
  ``NaN`` and ``Infinity`` are not JSON and are refused;
- objects and arrays nest at most ``MAX_DEPTH`` levels, checked before parsing, so no
  body can make the parser recurse deeply;
- a field given twice in one object is refused, not resolved by "the last one wins": an
  ambiguous money request is never guessed at;
- every string, field names included, follows ``domain.text`` (no control or
  bidirectional characters) and is normalised to NFC.

Encoding writes ``Decimal`` amounts as JSON numbers with their two places (50.00).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import msgspec

from connectpsp.domain.errors import ConnectPSPError, FieldError, ValidationFailed
from connectpsp.domain.text import TEXT_RULE, clean_text

__all__ = [
    "MAX_DEPTH",
    "InvalidJson",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "check_content_type",
    "decode",
    "encode",
]

MAX_DEPTH = 32

_encoder = msgspec.json.Encoder(decimal_format="number")


class InvalidJson(ConnectPSPError):
    code = "INVALID_JSON"
    default_message = "The request body is not valid JSON."


class PayloadTooLarge(ConnectPSPError):
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


class UnsupportedMediaType(ConnectPSPError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "The request body must be sent as Content-Type: application/json."


def check_content_type(content_type: str | None) -> None:
    """``UnsupportedMediaType`` unless the header says JSON (``application/json``, with a
    UTF-8 charset if it names one): a body sent as anything else is not read as JSON."""
    media_type, *params = (content_type or "").split(";")
    if media_type.strip().lower() != "application/json":
        raise UnsupportedMediaType()
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise UnsupportedMediaType("JSON bodies must be UTF-8 (charset=utf-8).")


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def decode(body: bytes) -> Any:
    """The body as Python values, checked as the module says; ``InvalidJson`` or
    ``ValidationFailed`` (naming each bad field) otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJson("The request body is not valid UTF-8.") from None
    if text.count("{") + text.count("[") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise InvalidJson(f"The request body nests deeper than {MAX_DEPTH} levels.")
    duplicated = False

    def object_of(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicated
        found = dict(pairs)
        if len(found) == len(pairs):
            return found
        duplicated = True
        return _Duplicated(found, [key for key, _ in pairs])

    try:
        data = json.loads(
            text, parse_float=Decimal, parse_constant=_not_json, object_pairs_hook=object_of
        )
    except ValueError as error:  # JSONDecodeError, or an integer too long to convert
        raise InvalidJson(f"The request body is not valid JSON: {_reason(error)}.") from None
    except ArithmeticError:  # a number like 1e9999999999999999999: no Decimal holds it
        raise InvalidJson("The request body has a number out of range.") from None
    # ASCII without escapes or DEL holds no forbidden character and is in NFC (the parser
    # refuses raw C0 characters in strings): the common body needs no walk.
    if not duplicated and text.isascii() and "\\" not in text and "\x7f" not in text:
        return data
    problems: list[FieldError] = []
    data = _clean(data, "", problems)
    if problems:
        raise ValidationFailed(problems)
    return data


class _Duplicated(dict[str, Any]):
    """An object in which some field appeared more than once (reported by ``_clean``)."""

    def __init__(self, found: dict[str, Any], keys: list[str]) -> None:
        super().__init__(found)
        seen: set[str] = set()
        self.duplicated: list[str] = []
        for key in keys:
            if key in seen and key not in self.duplicated:
                self.duplicated.append(key)
            seen.add(key)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _reason(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno}, column {error.colno}"
    return str(error).split(";")[0].rstrip(".")


# A JSON string (the loop unrolled: far faster in ``re`` than an alternation per
# character), and what is not a bracket.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _depth(text: str) -> int:
    """The deepest nesting of objects and arrays in ``text`` (brackets inside strings do
    not count); only run when the body has more brackets than ``MAX_DEPTH``. The strings
    and everything else are dropped in C; Python walks the brackets alone."""
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _clean(value: Any, path: str, problems: list[FieldError]) -> Any:
    """``value`` with every string in NFC; each string that breaks the text rule, and
    each field given twice, is added to ``problems`` under its dotted path."""
    if isinstance(value, str):
        try:
            return clean_text(value)
        except ValueError:
            problems.append(FieldError(path or "body", TEXT_RULE))
            return value
    if isinstance(value, dict):
        if isinstance(value, _Duplicated):
            problems += [
                FieldError(_join(path, key), "is given more than once")
                for key in value.duplicated
                if _printable(key)
            ]
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            try:
                name = clean_text(key)
            except ValueError:
                problems.append(FieldError(path or "body", f"has a field name that {TEXT_RULE}"))
                continue
            if name in cleaned:  # two spellings of one name, equal once normalised
                problems.append(FieldError(_join(path, name), "is given more than once"))
            cleaned[name] = _clean(item, _join(path, name), problems)
        return cleaned
    if isinstance(value, list):
        return [_clean(item, _join(path, str(i)), problems) for i, item in enumerate(value)]
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _printable(key: str) -> bool:
    try:
        clean_text(key)
    except ValueError:
        return False
    return True
