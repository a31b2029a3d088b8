"""The BR Code, Pix's "copia e cola" text: EMV MPM fields as BCB's BR Code manual and its
Manual de Padrões para Iniciação do Pix define them. ``encode`` writes one; ``decode``
reads one strictly, or raises ``BrCodeError`` with a stable reason and the field's ID.

Standard library only, and nothing else of connectpsp: the server and the SDK share it.

Each field is ``ID LENGTH VALUE``: a two-digit ID, a two-digit length counted in bytes
(UTF-8), and the value. Templates (26, 62) hold fields of their own. The last field, 63,
is the CRC16/CCITT-FALSE of everything before its value, ``6304`` included.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, cast

__all__ = [
    "GUI",
    "NO_TXID",
    "BrCode",
    "BrCodeError",
    "crc16",
    "decode",
    "encode",
]

GUI = "br.gov.bcb.pix"
NO_TXID = "***"  # field 62/05 when the code carries no txid
MAX_NAME = 25
MAX_CITY = 15
MAX_AMOUNT = 13  # characters of field 54 (EMV)

Kind = Literal["STATIC", "DYNAMIC"]

# The fields a payer reads, by ID ("62/05" is field 05 inside template 62).
FIELD_NAMES = {
    "00": "payload format indicator",
    "01": "point of initiation method",
    "26": "merchant account information",
    "26/00": "GUI",
    "26/01": "Pix key",
    "26/02": "description",
    "26/25": "location URL",
    "52": "merchant category code",
    "53": "currency",
    "54": "amount",
    "58": "country",
    "59": "merchant name",
    "60": "merchant city",
    "62": "additional data",
    "62/05": "txid",
    "63": "CRC",
}

_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]{1,2}))?")
_TXID = re.compile(r"[A-Za-z0-9]{1,25}")
_CRC = re.compile(r"[0-9A-F]{4}")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_MCC = re.compile(r"[0-9]{4}")


class BrCodeError(ValueError):
    """A BR Code refused (by ``decode``) or that cannot be written (by ``encode``).

    ``reason`` is stable: ``CRC_MISMATCH``, ``BAD_LENGTH``, ``MISSING_FIELD``,
    ``UNKNOWN_GUI``, ``BAD_VALUE``, ``TRAILING_DATA``, ``DUPLICATE_FIELD``,
    ``MISPLACED_FIELD`` or ``CONFLICTING_FIELDS``; ``field`` is the ID ("54", "62/05"),
    or None when no field can be named."""

    def __init__(self, reason: str, field: str | None, problem: str) -> None:
        self.reason = reason
        self.field = field
        where = f"field {field} ({FIELD_NAMES.get(field, 'unknown')}) " if field else ""
        super().__init__(f"Invalid BR Code: {where}{problem}.")

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class BrCode:
    """What a BR Code tells a payer. ``amount`` is in centavos; ``url`` is a dynamic
    code's location, without scheme; ``txid`` is ``***`` when the code carries none."""

    type: Kind
    pix_key: str | None
    url: str | None
    amount: int | None
    merchant_name: str
    merchant_city: str
    txid: str = NO_TXID
    description: str | None = None
    point_of_initiation: Literal["11", "12"] | None = None


def crc16(data: bytes) -> str:
    """CRC16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR), as
    four uppercase hex digits."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return f"{crc:04X}"


# writing ----------------------------------------------------------------------------------


def encode(
    *,
    merchant_name: str,
    merchant_city: str,
    pix_key: str | None = None,
    url: str | None = None,
    amount: int | None = None,
    description: str | None = None,
    txid: str = NO_TXID,
    point_of_initiation: Literal["11", "12"] | None = None,
) -> str:
    """A static code (``pix_key``; optional ``amount`` in centavos, ``description`` and
    ``txid``) or a dynamic one (``url``, the location without scheme: ``01`` is ``12``
    and ``62/05`` is ``***``, the txid travels in the location's payload). The name and
    city lose their accents and are cut to 25 and 15 characters."""
    if (pix_key is None) == (url is None):
        raise BrCodeError("CONFLICTING_FIELDS", "26", "needs a Pix key or a location URL")
    account = [("00", GUI)]
    if url is not None:
        if amount is not None or description is not None or txid != NO_TXID:
            raise BrCodeError(
                "CONFLICTING_FIELDS",
                "26/25",
                "a dynamic code's amount, text and txid travel in its location's payload",
            )
        _check_url(url)
        account.append(("25", url))
        point_of_initiation = "12"
    else:
        assert pix_key is not None
        _check_text(pix_key, "26/01")
        account.append(("01", pix_key))
        if description is not None:
            _check_text(description, "26/02")
            account.append(("02", description))
    _check_txid(txid)
    fields = [("00", "01")]
    if point_of_initiation is not None:
        _check_point_of_initiation(point_of_initiation)
        fields.append(("01", point_of_initiation))
    fields += [("26", _join(account, "26")), ("52", "0000"), ("53", "986")]
    if amount is not None:
        fields.append(("54", _format_amount(amount)))
    fields += [
        ("58", "BR"),
        ("59", _ascii(merchant_name, MAX_NAME, "59")),
        ("60", _ascii(merchant_city, MAX_CITY, "60")),
        ("62", _join([("05", txid)], "62")),
    ]
    text = _join(fields, None) + "6304"
    return text + crc16(text.encode())


def _join(fields: list[tuple[str, str]], template: str | None) -> str:
    out = []
    for field_id, value in fields:
        size = len(value.encode())
        if not 1 <= size <= 99:
            name = f"{template}/{field_id}" if template else field_id
            raise BrCodeError("BAD_LENGTH", name, f"would be {size} bytes; a field holds 1 to 99")
        out.append(f"{field_id}{size:02d}{value}")
    return "".join(out)


def _ascii(text: str, limit: int, field: str) -> str:
    """``text`` without accents (NFKD, combining marks dropped), cut to ``limit``."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    if not all(" " <= c <= "~" for c in bare):
        raise BrCodeError("BAD_VALUE", field, "must be written in Latin letters")
    bare = bare.strip()[:limit].rstrip()
    if not bare:
        raise BrCodeError("BAD_VALUE", field, "is empty")
    return bare


def _format_amount(centavos: int) -> str:
    if isinstance(centavos, bool) or not isinstance(centavos, int) or centavos <= 0:
        raise BrCodeError("BAD_VALUE", "54", "must be a positive whole number of centavos")
    text = f"{centavos // 100}.{centavos % 100:02d}"
    if len(text) > MAX_AMOUNT:
        raise BrCodeError("BAD_LENGTH", "54", f"has more than {MAX_AMOUNT} characters")
    return text


# reading ----------------------------------------------------------------------------------


def decode(text: str) -> BrCode:
    """The BR Code ``text``, read strictly; ``BrCodeError`` names what is wrong."""
    if not isinstance(text, str) or not text:
        raise BrCodeError("MISSING_FIELD", "00", "is missing: the code is empty")
    try:
        data = text.encode()
    except UnicodeEncodeError:
        raise BrCodeError("BAD_VALUE", None, "is not valid text") from None
    # A corrupted code is told as such when its last field is a CRC; a structure that
    # is broken even though its CRC matches is told by the reading below.
    if data[-8:-4] == b"6304":
        _check_crc(data)
    fields = _fields(data, None)
    if list(fields)[-1] != "63":
        raise BrCodeError("MISSING_FIELD", "63", "is missing")
    if data[-8:-4] != b"6304":  # 63 is last, so its length is not 4
        raise BrCodeError("BAD_LENGTH", "63", "must be 4 bytes long")
    if next(iter(fields)) != "00":
        raise BrCodeError("MISPLACED_FIELD", "00", "must be the first field")
    return _read(fields)


def _check_crc(data: bytes) -> None:
    sent = data[-4:].decode(errors="replace")
    if not _CRC.fullmatch(sent):
        raise BrCodeError("BAD_VALUE", "63", "must be 4 uppercase hexadecimal digits")
    computed = crc16(data[:-4])
    if sent != computed:
        raise BrCodeError("CRC_MISMATCH", "63", f"is {sent}, but the code's CRC is {computed}")


def _fields(data: bytes, template: str | None) -> dict[str, str]:
    """The fields in ``data``, by ID, in order. A declared length that does not end
    where the next field begins is BAD_LENGTH, named on the field that declared it."""
    found: dict[str, str] = {}
    at, previous = 0, None
    while at < len(data):
        head = data[at : at + 4]
        if len(head) < 4 or not head.isdigit():
            if previous is not None:
                raise BrCodeError(
                    "BAD_LENGTH",
                    previous,
                    "declares a length that does not end where the next field begins",
                )
            raise BrCodeError("BAD_VALUE", template, "does not start with a field ID and length")
        field_id, size = head[:2].decode(), int(head[2:])
        name = f"{template}/{field_id}" if template else field_id
        value = data[at + 4 : at + 4 + size]
        if size == 0 or len(value) < size:
            raise BrCodeError(
                "BAD_LENGTH",
                name,
                f"declares {size} bytes, but {len(value)} follow"
                if size
                else "declares 0 bytes; a field holds 1 to 99",
            )
        if field_id in found:
            raise BrCodeError("DUPLICATE_FIELD", name, "appears more than once")
        try:
            found[field_id] = value.decode()
        except UnicodeDecodeError:
            raise BrCodeError(
                "BAD_LENGTH",
                name,
                "declares a length that splits a character (lengths count bytes)",
            ) from None
        at += 4 + size
        previous = name
        if name == "63" and at < len(data):
            raise BrCodeError("TRAILING_DATA", "63", "must be the last field")
    return found


def _read(fields: dict[str, str]) -> BrCode:
    if fields["00"] != "01":
        raise BrCodeError("BAD_VALUE", "00", "must be 01")
    point = fields.get("01")
    if point is not None:
        _check_point_of_initiation(point)
    account = _pix_account(fields)
    key, url = account.get("01"), account.get("25")
    if key is not None and url is not None:
        raise BrCodeError("CONFLICTING_FIELDS", "26", "holds both a Pix key and a location URL")
    if key is None and url is None:
        raise BrCodeError("MISSING_FIELD", "26/01", "is missing, and so is a location URL")
    if key is not None:
        _check_text(key, "26/01")
    if url is not None:
        _check_url(url)
        if point != "12":  # the manual: a dynamic code is always 01 = 12
            raise BrCodeError(
                "MISSING_FIELD" if point is None else "BAD_VALUE",
                "01",
                "must be 12 on a dynamic code",
            )
    description = account.get("02")
    if description is not None:
        _check_text(description, "26/02")
    for field_id, name in (("52", None), ("53", "986"), ("58", "BR"), ("59", None), ("60", None)):
        if field_id not in fields:
            raise BrCodeError("MISSING_FIELD", field_id, "is missing")
        if name is not None and fields[field_id] != name:
            raise BrCodeError("BAD_VALUE", field_id, f"must be {name}")
    if not _MCC.fullmatch(fields["52"]):
        raise BrCodeError("BAD_VALUE", "52", "must be 4 digits")
    txid = NO_TXID
    if "62" in fields:
        txid = _fields(fields["62"].encode(), "62").get("05", NO_TXID)
        _check_txid(txid)
    return BrCode(
        type="STATIC" if key is not None else "DYNAMIC",
        pix_key=key,
        url=url,
        amount=_parse_amount(fields["54"]) if "54" in fields else None,
        merchant_name=_limited(fields["59"], MAX_NAME, "59"),
        merchant_city=_limited(fields["60"], MAX_CITY, "60"),
        txid=txid,
        description=description,
        point_of_initiation=cast(Literal["11", "12"] | None, point),  # checked above
    )


def _pix_account(fields: dict[str, str]) -> dict[str, str]:
    if "26" not in fields:
        raise BrCodeError("MISSING_FIELD", "26", "is missing")
    account = _fields(fields["26"].encode(), "26")
    gui = account.get("00")
    if gui is None:
        raise BrCodeError("MISSING_FIELD", "26/00", "is missing")
    # The BR Code manual (2.0.1, the GUI's footnote) makes the GUI case-insensitive;
    # payers that accepted one case only were PSP bugs (bacen/pix-api#230).
    if gui.lower() != GUI:
        raise BrCodeError("UNKNOWN_GUI", "26/00", f"must be {GUI}")
    return account


def _parse_amount(text: str) -> int:
    match = _AMOUNT.fullmatch(text)
    if match is None or len(text) > MAX_AMOUNT:
        raise BrCodeError(
            "BAD_VALUE", "54", "must be a decimal number with at most 2 places, like 10.50"
        )
    reais, cents = match.groups()
    centavos = int(reais) * 100 + int((cents or "").ljust(2, "0"))
    if centavos == 0:
        raise BrCodeError("BAD_VALUE", "54", "must be more than zero")
    return centavos


def _limited(text: str, limit: int, field: str) -> str:
    _check_text(text, field)
    if len(text.encode()) > limit:
        raise BrCodeError("BAD_LENGTH", field, f"must be at most {limit} bytes")
    return text


def _check_text(text: str, field: str) -> None:
    if not text or any(unicodedata.category(c) == "Cc" for c in text):
        raise BrCodeError("BAD_VALUE", field, "must be text without control characters")


def _check_url(url: str) -> None:
    _check_text(url, "26/25")
    if _SCHEME.match(url) or " " in url:
        raise BrCodeError("BAD_VALUE", "26/25", "must be a location without scheme or spaces")


def _check_txid(txid: str) -> None:
    if txid != NO_TXID and not _TXID.fullmatch(txid):
        raise BrCodeError("BAD_VALUE", "62/05", "must be *** or 1 to 25 letters and digits")


def _check_point_of_initiation(point: str) -> None:
    if point not in ("11", "12"):
        raise BrCodeError("BAD_VALUE", "01", "must be 11 or 12")
