"""Sandbox actions: what a merchant may arrange in the simulated Pix network while it tests,
through the ports that network implements (``adapters/rails/simulated.py`` and
``adapters/rails/simulated_security.py``).

Each change also calls ``on_changed``: the composition root passes the DICT cache's
``invalidate``, so that this process's next look-up sees it at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import connectpsp.brcode as brcode
from connectpsp.domain.cashin import AmountMismatch
from connectpsp.domain.cashout import CashOut, CashOutStatus, Creditor
from connectpsp.domain.clients import Client
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import (
    ConnectPSPError,
    FieldError,
    IllegalTransition,
    InvalidBrCode,
    ValidationFailed,
)
from connectpsp.domain.ids import end_to_end_id, new_id
from connectpsp.domain.money import Centavos, to_decimal
from connectpsp.domain.pix import PixKeyType
from connectpsp.domain.spi import ReasonCode
from connectpsp.service.cashins import CashInService
from connectpsp.service.rail import IncomingPayment, Payer, Receipt
from connectpsp.service.security import FraudMarker, FraudType

__all__ = [
    "SANDBOX_PAYER",
    "FraudMarkerRegistry",
    "PaymentRejected",
    "PixNetworkInbound",
    "SandboxDict",
    "SandboxFraudMarkers",
    "SandboxKeyRegistry",
    "SandboxPayer",
    "SandboxReturns",
]


def _nothing() -> None:
    return None


class SandboxKeyRegistry(Protocol):
    """The sandbox DICT's key directory."""

    def register(
        self,
        key_type: PixKeyType,
        key: str,
        owner: Creditor,
        reject_with: ReasonCode | None = None,
    ) -> None:
        """Add a key pointing at ``owner``'s account; payments to that account are then
        rejected by SPI with ``reject_with``, if given. ``PixKeyAlreadyRegistered`` if the
        key is taken, ``ValidationFailed`` if a CPF or CNPJ key is not ``owner``'s own
        document."""
        ...


class SandboxDict:
    """Keys a merchant registers in the sandbox DICT, so that its cash-outs to them
    resolve (and settle, or fail with the reason it chose)."""

    def __init__(
        self, registry: SandboxKeyRegistry, *, on_changed: Callable[[], None] = _nothing
    ) -> None:
        self._registry = registry
        self._on_changed = on_changed

    def register_key(
        self,
        key_type: PixKeyType,
        key: str,
        owner: Creditor,
        reject_with: ReasonCode | None = None,
    ) -> None:
        self._registry.register(key_type, key, owner, reject_with)
        self._on_changed()


class FraudMarkerRegistry(Protocol):
    """The sandbox DICT's fraud markers."""

    def add_marker(
        self, marker_type: FraudType, *, key: str | None = None, document: str | None = None
    ) -> FraudMarker:
        """Mark a key or a document (exactly one), from now on."""
        ...

    def remove_marker(self, marker_id: str) -> None:
        """Remove a marker in force; ``NotFound`` if there is none with that id."""
        ...


class SandboxFraudMarkers:
    """Fraud markers a merchant puts on keys and documents in the sandbox DICT, to see
    what its checks do with a marked payee, and takes off again."""

    def __init__(
        self, registry: FraudMarkerRegistry, *, on_changed: Callable[[], None] = _nothing
    ) -> None:
        self._registry = registry
        self._on_changed = on_changed

    def add(
        self,
        *,
        key: str | None = None,
        document: str | None = None,
        marker_type: FraudType = FraudType.SCAMMER_ACCOUNT,
    ) -> FraudMarker:
        if (key is None) == (document is None):
            raise ValidationFailed([FieldError("body", "must hold either key or document")])
        marker = self._registry.add_marker(marker_type, key=key, document=document)
        self._on_changed()
        return marker

    def remove(self, marker_id: str) -> None:
        self._registry.remove_marker(marker_id)
        self._on_changed()


class PixNetworkInbound(Protocol):
    """The simulated network's inbound side: a payer at another participant pays us."""

    def pay_in(self, payment: IncomingPayment) -> Receipt: ...


# Who pays when the request names nobody: a customer of another participant (Itaú).
SANDBOX_PAYER = Payer("Pagador Sandbox", "52998224725", "60701190")


class PaymentRejected(ConnectPSPError):
    """The network brought the Pix and we rejected it (a race with a payment or a
    cancellation since the payer looked): ``details["reason"]`` is SPI's code."""

    code = "PAYMENT_REJECTED"
    default_message = "The receiving PSP rejected the payment."


class SandboxPayer:
    """Plays a customer of another bank paying one of our clients: by BR Code or by key,
    through the simulated network's inbound side. As a payer's PSP would, it reads the
    charge first and refuses what would be rejected (an expired, cancelled or paid
    charge, another amount, an unknown key), with a clear code and no money moved."""

    def __init__(
        self,
        network: PixNetworkInbound,
        *,
        cash_ins: CashInService,
        clock: Clock,
        location_base: str,
    ) -> None:
        self._network = network
        self._cash_ins = cash_ins
        self._clock = clock
        self._location_prefix = f"{location_base}/qr/"

    def pay(
        self,
        *,
        br_code: str | None = None,
        pix_key: str | None = None,
        amount: Centavos | None = None,
        payer: Payer | None = None,
        paid_at: datetime | None = None,
    ) -> str:
        """Pay; the payment's endToEndId."""
        if (br_code is None) == (pix_key is None):
            raise ValidationFailed([FieldError("body", "must hold either brCode or pixKey")])
        txid: str | None = None
        if br_code is not None:
            pix_key, txid, amount = self._read_code(br_code, amount)
        if amount is None:
            why = "is required: the code sets none" if br_code else "is required to pay a key"
            raise ValidationFailed([FieldError("amount", why)])
        now = self._clock.now()
        if paid_at is not None and paid_at > now:
            raise ValidationFailed([FieldError("paidAt", "must not be in the future")])
        refusal = self._cash_ins.refusal_of(pix_key, txid, amount)
        if refusal is not None:
            raise refusal
        who = payer or SANDBOX_PAYER
        payment = IncomingPayment(
            end_to_end_id=end_to_end_id(who.ispb, now, new_id()),
            amount=amount,
            payer=who,
            key=pix_key,
            txid=txid,
            paid_at=paid_at or now,
        )
        receipt = self._network.pay_in(payment)
        if not receipt.accepted:
            raise PaymentRejected(details={"reason": receipt.reason})
        return payment.end_to_end_id

    def _read_code(
        self, text: str, amount: Centavos | None
    ) -> tuple[str | None, str | None, Centavos | None]:
        """The key, txid and amount a code pays: a static code's own; a dynamic code's
        from the charge at its location (this PSP's: the sandbox holds no other)."""
        try:
            code = brcode.decode(text)
        except brcode.BrCodeError as error:
            raise InvalidBrCode(
                error.message, {"reason": error.reason, "field": error.field}
            ) from None
        if code.url is not None:
            if not code.url.startswith(self._location_prefix):
                raise ValidationFailed(
                    [
                        FieldError(
                            "brCode", "is a dynamic code of another PSP; the sandbox pays ours"
                        )
                    ]
                )
            charge = self._cash_ins.at_location(code.url.removeprefix(self._location_prefix))
            if amount is not None and charge.amount is not None and amount != charge.amount:
                raise AmountMismatch(details=_amounts(charge.amount, amount))
            return charge.pix_key, charge.txid, charge.amount
        if code.amount is not None:
            if amount is not None and amount != code.amount:
                raise AmountMismatch(details=_amounts(code.amount, amount))
            amount = code.amount
        return code.pix_key, None if code.txid == brcode.NO_TXID else code.txid, amount


def _amounts(expected: Centavos, paid: Centavos) -> dict[str, str]:
    return {"expected": str(to_decimal(expected)), "paid": str(to_decimal(paid))}


class PixNetworkReturns(Protocol):
    """The simulated network playing a payee's bank that sends a payment back."""

    def send_back(self, end_to_end_id: str, amount: Centavos, reason: str) -> Receipt: ...


class SandboxReturns:
    """Plays the payee's bank of one of a client's cash-outs sending (part of) it back,
    through the simulated network's inbound side (``POST /sandbox/cash-out/{code}/return``)."""

    def __init__(self, network: PixNetworkReturns, *, cash_outs: CashOutReader) -> None:
        self._network = network
        self._cash_outs = cash_outs

    def send_back(self, client: Client, internal_code: str, amount: Centavos, reason: str) -> None:
        cash_out = self._cash_outs.get(client, internal_code)
        if cash_out.status is not CashOutStatus.COMPLETED or cash_out.end_to_end_id is None:
            raise IllegalTransition(
                "Only a COMPLETED cash-out can come back.", {"status": cash_out.status.value}
            )
        receipt = self._network.send_back(cash_out.end_to_end_id, amount, reason)
        if not receipt.accepted:
            raise PaymentRejected(
                "The return was refused: it would bring back more than the cash-out's amount."
                if receipt.reason == "AM09"
                else None,
                {"reason": receipt.reason},
            )


class CashOutReader(Protocol):
    def get(self, client: Client, internal_code: str) -> CashOut: ...
