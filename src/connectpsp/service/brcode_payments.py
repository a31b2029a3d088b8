"""Paying a BR Code: what a cash-out to ``{"type": "BRCODE", "brCode": ...}`` pays.

A static code carries its key (resolved through DICT at settlement, as any key), an
optional txid, and an optional amount that the request's must equal. A dynamic code
names a location: its JWS is fetched and checked against the issuer's JWKS
(``LocationReader``), and the charge it serves gives the key, the txid, the amount the
request must equal, and whether it may still be paid. Either way the cash-out then pays
a Pix key, carrying the txid, so the receiving PSP matches its charge.

Both are read before the request is queued, so a code that cannot be paid is refused
before the 202 and moves no money.
"""

from __future__ import annotations

from typing import Protocol

import connectpsp.brcode as brcode
from connectpsp.domain.cashin import AmountMismatch, ChargeNotPayable
from connectpsp.domain.cashout import PixDestination
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import ConnectPSPError, InvalidBrCode
from connectpsp.domain.money import Centavos, to_decimal
from connectpsp.domain.pix_location import ChargeStatus as LocationStatus
from connectpsp.domain.pix_location import LocationCharge
from connectpsp.service.security import key_type_of

__all__ = ["BrCodePayments", "LocationReader", "LocationUnreadable"]

_OUR_STATUS = {
    LocationStatus.ACTIVE: "ACTIVE",
    LocationStatus.COMPLETED: "COMPLETED",
    LocationStatus.REMOVED_BY_RECEIVER: "CANCELLED",
    LocationStatus.REMOVED_BY_PSP: "EXPIRED",
}


class LocationUnreadable(ConnectPSPError):
    """A dynamic code's location could not be fetched or did not verify; ``details`` is
    ``{"reason"}`` (``UNREACHABLE``, or the verifier's: ``BAD_SIGNATURE``, ...)."""

    code = "BRCODE_LOCATION_UNREADABLE"
    default_message = "The dynamic BR Code's location could not be read and verified."


class LocationReader(Protocol):
    def read(self, location: str) -> LocationCharge:
        """The charge at ``location`` (a BR Code's URL, without scheme), its JWS verified
        against its issuer's JWKS; ``LocationUnreadable`` otherwise."""
        ...


class BrCodePayments:
    def __init__(self, reader: LocationReader, *, clock: Clock) -> None:
        self._reader = reader
        self._clock = clock

    def destination(self, text: str, amount: Centavos) -> PixDestination:
        """The key a cash-out of ``amount`` to the code ``text`` pays; refused with
        ``INVALID_BRCODE``, ``AMOUNT_MISMATCH``, ``CHARGE_NOT_PAYABLE`` or
        ``BRCODE_LOCATION_UNREADABLE``. May fetch: call it from a thread."""
        try:
            code = brcode.decode(text)
        except brcode.BrCodeError as error:
            details = {"reason": error.reason, "field": error.field}
            raise InvalidBrCode(error.message, details) from None
        if code.url is None:
            assert code.pix_key is not None  # a static code carries its key
            _same_amount(code.amount, amount)
            txid = None if code.txid == brcode.NO_TXID else code.txid
            return _to_key(code.pix_key, text, txid)
        charge = self._reader.read(code.url)
        if not charge.payable_at(self._clock.now()):
            # In our words, as the sandbox payer and GET /cash-in say it.
            status = _OUR_STATUS[charge.status]
            if charge.status is LocationStatus.ACTIVE:
                status = "EXPIRED"
            raise ChargeNotPayable(
                "The dynamic code's charge is no longer payable.", {"status": status}
            )
        _same_amount(charge.amount, amount)
        return _to_key(charge.pix_key, text, charge.txid)


def _same_amount(expected: Centavos | None, amount: Centavos) -> None:
    if expected is not None and expected != amount:
        raise AmountMismatch(
            "The amount differs from the one the BR Code asks for.",
            {"expected": str(to_decimal(expected)), "paid": str(to_decimal(amount))},
        )


def _to_key(key: str, text: str, txid: str | None) -> PixDestination:
    try:
        key_type = key_type_of(key)
    except ValueError as error:
        raise InvalidBrCode(
            f"Invalid BR Code: its Pix key {error}.", {"reason": "BAD_VALUE", "field": "26/01"}
        ) from None
    return PixDestination(key_type, key, br_code=text, txid=txid)
