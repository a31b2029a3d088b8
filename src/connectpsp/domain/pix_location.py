"""A dynamic BR Code's location: the charge as BCB's API Pix serves it (``CobPayload``).

A dynamic code carries no amount or txid; it carries a location (``26/25``, a URL without
scheme) that the payer's PSP fetches. The answer is a JWS (``application/jose``) whose
payload is this document:

    {"calendario": {"criacao": "2026-01-05T12:00:00.000Z",
                    "apresentacao": "2026-01-05T12:03:10.250Z", "expiracao": 3600},
     "txid": "...", "revisao": 0, "status": "ATIVA",
     "valor": {"original": "10.00"}, "chave": "...", "solicitacaoPagador": "..."}

- ``calendario.criacao`` (the charge was created) and ``apresentacao`` (this payload was
  served: it changes on every fetch) are RFC 3339 timestamps, written in UTC with
  milliseconds; ``expiracao`` is the charge's lifetime in seconds from ``criacao``.
- ``valor.original`` is ``\\d{1,10}\\.\\d{2}``, written exactly from integer centavos.
- ``status``: ATIVA, CONCLUIDA, REMOVIDA_PELO_USUARIO_RECEBEDOR, REMOVIDA_PELO_PSP.
- ``revisao`` starts at 0 and grows by 1 with each change to the charge.
- ``solicitacaoPagador`` (at most 140 characters) is left out when there is none.

``location_payload`` writes it; ``read_location_payload`` reads one a payer fetched
(after its JWS was verified) into a ``LocationCharge``; ``jwks_url_for`` says where the
issuer's keys are. Standard library only: the JWS itself is the adapters' work
(``adapters/location_signing.py``, ``adapters/location_verify.py``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import SplitResult, urlsplit

from connectpsp.domain.money import Centavos, to_decimal

__all__ = [
    "JWKS_PATH",
    "ChargeStatus",
    "LocationCharge",
    "LocationError",
    "jwks_url_for",
    "location_payload",
    "read_location_payload",
]

# Where an issuer publishes the keys its locations are signed with, on the location's host.
JWKS_PATH = "/.well-known/jwks.json"
# A dynamic charge's txid (API Pix, ``cob``): 26 to 35 letters and digits.
_TXID = re.compile(r"[A-Za-z0-9]{26,35}", re.ASCII)
_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,9})\.([0-9]{2})", re.ASCII)
_MAX_AMOUNT: Centavos = 10**12 - 1  # 9999999999.99: ten digits of reais
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_DIGITS = re.compile(r"[0-9]{1,10}", re.ASCII)
_MAX_KEY = 77  # a Pix key's longest form (an e-mail address)
_MAX_TEXT = 140


class ChargeStatus(StrEnum):
    ACTIVE = "ATIVA"
    COMPLETED = "CONCLUIDA"
    REMOVED_BY_RECEIVER = "REMOVIDA_PELO_USUARIO_RECEBEDOR"
    REMOVED_BY_PSP = "REMOVIDA_PELO_PSP"


class LocationError(ValueError):
    """A location, its JWS or its payload refused, or a URL that cannot be one.

    ``reason`` is stable: ``MALFORMED_JWS``, ``ALGORITHM_NOT_ALLOWED``, ``UNKNOWN_KEY``,
    ``BAD_KEY``, ``BAD_SIGNATURE``, ``BAD_PAYLOAD`` or ``BAD_LOCATION``; ``field`` names
    the payload field at fault (``valor.original``), or is None."""

    def __init__(self, reason: str, problem: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field} {problem}" if field else problem)

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class LocationCharge:
    """A charge as its location served it."""

    txid: str
    revision: int
    created_at: datetime
    presented_at: datetime
    expires_at: datetime
    amount: Centavos
    pix_key: str
    description: str | None
    status: ChargeStatus

    def payable_at(self, now: datetime) -> bool:
        return self.status is ChargeStatus.ACTIVE and now < self.expires_at


def location_payload(
    *,
    txid: str,
    created_at: datetime,
    presented_at: datetime,
    expires_in: int,
    amount: Centavos,
    pix_key: str,
    description: str | None,
    status: ChargeStatus,
    revision: int,
) -> dict[str, Any]:
    """The payload a location serves, from the charge's own values. Values that could
    not come from a valid charge raise ``ValueError`` (a bug, not a client's input)."""
    if not _TXID.fullmatch(txid):
        raise ValueError("txid must be 26 to 35 letters and digits")
    if not (isinstance(amount, int) and 0 < amount <= _MAX_AMOUNT):
        raise ValueError("amount must be 1 to 999999999999 centavos")
    if not (isinstance(expires_in, int) and expires_in > 0):
        raise ValueError("expires_in must be a positive number of seconds")
    if not (isinstance(revision, int) and revision >= 0):
        raise ValueError("revision must be 0 or more")
    if not 0 < len(pix_key) <= _MAX_KEY:
        raise ValueError("pix_key must be 1 to 77 characters")
    if description is not None and not 0 < len(description) <= _MAX_TEXT:
        raise ValueError("description must be 1 to 140 characters")
    payload: dict[str, Any] = {
        "calendario": {
            "criacao": _timestamp(created_at),
            "apresentacao": _timestamp(presented_at),
            "expiracao": expires_in,
        },
        "txid": txid,
        "revisao": revision,
        "status": ChargeStatus(status).value,
        "valor": {"original": str(to_decimal(amount))},
        "chave": pix_key,
    }
    if description is not None:
        payload["solicitacaoPagador"] = description
    return payload


def read_location_payload(payload: Any) -> LocationCharge:
    """A verified payload read strictly; ``LocationError`` (``BAD_PAYLOAD``, naming the
    field) otherwise. ``expiracao`` and ``revisao`` are integers, though digits in a
    string are taken too: BCB's own example in the API Pix writes them so."""
    if not isinstance(payload, dict):
        raise LocationError("BAD_PAYLOAD", "The location's payload is not a JSON object.")
    calendar = _object(payload, "calendario")
    value = _object(payload, "valor")
    created_at = _time(calendar, "criacao")
    lifetime = _count(calendar, "calendario.expiracao", "expiracao", minimum=1)
    description = payload.get("solicitacaoPagador")
    if description is not None and not (
        isinstance(description, str) and len(description) <= _MAX_TEXT
    ):
        raise _bad("solicitacaoPagador", "must be text of at most 140 characters")
    return LocationCharge(
        txid=_text(payload, "txid", _TXID, "must be 26 to 35 letters and digits"),
        revision=_count(payload, "revisao", "revisao", minimum=0),
        created_at=created_at,
        presented_at=_time(calendar, "apresentacao"),
        expires_at=created_at + timedelta(seconds=lifetime),
        amount=_amount(value.get("original")),
        pix_key=_pix_key(payload.get("chave")),
        description=description or None,
        status=_status(payload.get("status")),
    )


def jwks_url_for(location: str, *, jku: str | None = None, allow_loopback_http: bool) -> str:
    """Where the keys that sign ``location`` are: its ``jku`` (from the JWS header) if it
    names one on the location's own host and port, else the host's ``JWKS_PATH``.

    A BR Code's location has no scheme: it is fetched over https. Only with
    ``allow_loopback_http`` (the sandbox), a location on a loopback host is fetched over
    http, since a server on a developer's machine has no certificate. The fetch itself
    must still go through the SSRF guard (``adapters/webhook_http.AddressGuard``): a name
    checked here may resolve anywhere."""
    parts = _location_parts(location)
    host = (parts.hostname or "").lower()
    loopback = _is_loopback(host)
    scheme = "http" if loopback and allow_loopback_http else "https"
    origin = f"{scheme}://{parts.netloc.lower()}"
    if jku is None:
        return origin + JWKS_PATH
    named = urlsplit(jku) if isinstance(jku, str) else None
    if named is None or f"{named.scheme.lower()}://{named.netloc.lower()}" != origin:
        raise LocationError(
            "BAD_LOCATION", f"The JWS header's jku is not on the location's origin {origin}."
        )
    return jku


def _location_parts(location: str) -> SplitResult:
    if not isinstance(location, str) or not location or any(c.isspace() for c in location):
        raise LocationError("BAD_LOCATION", "The location must be a URL without spaces.")
    scheme, separator, _ = location.partition("://")
    parts = urlsplit(location if separator else "https://" + location)
    try:
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        raise LocationError("BAD_LOCATION", "The location's port is not valid.") from None
    if (separator and scheme.lower() not in ("http", "https")) or not parts.hostname:
        raise LocationError("BAD_LOCATION", "The location must name a host.")
    if parts.username is not None or parts.password is not None:
        raise LocationError("BAD_LOCATION", "The location must not carry a user or password.")
    return parts


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _bad(field: str, problem: str) -> LocationError:
    return LocationError("BAD_PAYLOAD", problem, field)


def _object(payload: dict[str, Any], name: str) -> dict[str, Any]:
    found = payload.get(name)
    if not isinstance(found, dict):
        raise _bad(name, "must be an object")
    return found


def _text(payload: dict[str, Any], name: str, pattern: re.Pattern[str], problem: str) -> str:
    found = payload.get(name)
    if not isinstance(found, str) or not pattern.fullmatch(found):
        raise _bad(name, problem)
    return found


def _time(calendar: dict[str, Any], name: str) -> datetime:
    found = calendar.get(name)
    if not isinstance(found, str) or not _RFC3339.fullmatch(found):
        raise _bad(f"calendario.{name}", "must be an RFC 3339 timestamp with its offset")
    try:
        return datetime.fromisoformat(found).astimezone(UTC)
    except ValueError:
        raise _bad(f"calendario.{name}", "is not a real moment") from None


def _count(payload: dict[str, Any], field: str, name: str, *, minimum: int) -> int:
    found = payload.get(name)
    if isinstance(found, str) and _DIGITS.fullmatch(found):
        found = int(found)
    if not isinstance(found, int) or isinstance(found, bool) or not minimum <= found < 10**10:
        raise _bad(field, f"must be a whole number of at least {minimum}")
    return found


def _amount(found: Any) -> Centavos:
    matched = _AMOUNT.fullmatch(found) if isinstance(found, str) else None
    if matched is None:
        raise _bad("valor.original", "must be a decimal such as 10.00 (two places)")
    centavos = int(matched.group(1)) * 100 + int(matched.group(2))
    if centavos == 0:
        raise _bad("valor.original", "must be greater than 0.00")
    return centavos


def _pix_key(found: Any) -> str:
    if not isinstance(found, str) or not 0 < len(found) <= _MAX_KEY:
        raise _bad("chave", "must be a Pix key of 1 to 77 characters")
    return found


def _status(found: Any) -> ChargeStatus:
    try:
        return ChargeStatus(found)
    except ValueError:
        allowed = ", ".join(status.value for status in ChargeStatus)
        raise _bad("status", f"must be one of {allowed}") from None
