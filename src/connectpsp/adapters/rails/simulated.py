"""A simulated Pix network, the sandbox's default rail: a DICT key directory and SPI
settlement with real pacs.002 reason codes. Offline and deterministic.

Its state lives in ``sandbox_*`` tables, written in transactions of its own, as a real
network's would be: ConnectPSP sees it only through the rail port.

DICT resolution:
- a registered key resolves to its registered owner and account;
- any other valid CPF or CNPJ key resolves to an account owned by that document (so
  the tutorial's example works as written);
- other EMAIL, PHONE and EVP keys do not resolve.

SPI outcome, decided when a payment is submitted and due ``latency`` later:
- rejected with the ``rejectWith`` code of a registered key pointing at the account
  (the demo keys' rejecting accounts are 8000-8012 at ISPB 18236120, branch 0001, so a
  bank-account cash-out there is rejected too);
- rejected with the code of a magic account number (``MAGIC_ACCOUNTS``);
- for the magic "lost response" account, the first answer is lost (a timeout) though
  the payment was taken, so the engine must reconcile; then it settles;
- otherwise settled.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from connectpsp.adapters.rails.simulated_returns import SpiReturns
from connectpsp.adapters.rails.simulated_spi import (
    LOST_RESPONSE_ACCOUNT,
    MAGIC_ACCOUNTS,
    SpiPayments,
)
from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database, run_sql
from connectpsp.domain.cashout import Creditor
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import (
    FieldError,
    NotFound,
    PixKeyAlreadyRegistered,
    ValidationFailed,
)
from connectpsp.domain.ids import new_id, return_id
from connectpsp.domain.money import Centavos
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.domain.spi import ReasonCode
from connectpsp.service.rail import (
    Inbound,
    IncomingPayment,
    IncomingReturn,
    PaymentOrder,
    RailState,
    RailStatus,
    RailUnavailable,
    Receipt,
    ReturnOrder,
)

__all__ = [
    "DEMO_KEYS",
    "LOST_RESPONSE_ACCOUNT",
    "MAGIC_ACCOUNTS",
    "DictKey",
    "SimulatedPixNetwork",
]


@dataclass(frozen=True)
class DictKey:
    key_type: PixKeyType
    key: str
    owner: Creditor
    reject_with: ReasonCode | None = None


def _demo_owner(
    account: str, *, document: str = "12345678909", name: str = "Maria Silva"
) -> Creditor:
    return Creditor(name, document, "18236120", "0001", account, AccountType.PAYMENT)


def _demo_keys() -> list[DictKey]:
    keys = [
        DictKey(PixKeyType.EMAIL, "maria.silva@sandbox.connectpsp.dev", _demo_owner("947710840")),
        DictKey(PixKeyType.PHONE, "+5511999990000", _demo_owner("947710840")),
        DictKey(PixKeyType.EVP, "7d9f3c2a-1b4e-4c8d-9a6f-0e5b2d1c3a40", _demo_owner("947710840")),
        DictKey(
            PixKeyType.CNPJ,
            "12ABC34501DE35",
            Creditor(
                "Loja Exemplo Ltda",
                "12ABC34501DE35",
                "60701190",  # another bank: a key at ours would be one of our clients'
                "0001",
                "123456",
                AccountType.CHECKING,
            ),
        ),
        DictKey(
            PixKeyType.EMAIL,
            "other.owner@sandbox.connectpsp.dev",
            _demo_owner("555000111", document="98765432100", name="Ana Costa"),
        ),
        DictKey(
            PixKeyType.EMAIL,
            "lost.response@sandbox.connectpsp.dev",
            _demo_owner(LOST_RESPONSE_ACCOUNT),
        ),
    ]
    for reason in ReasonCode:
        keys.append(
            DictKey(
                PixKeyType.EMAIL,
                f"{reason.value.lower()}@sandbox.connectpsp.dev",
                _demo_owner(f"8{list(ReasonCode).index(reason):03d}"),
                reason,
            )
        )
    return keys


DEMO_KEYS: list[DictKey] = _demo_keys()
_LOOKUP = (
    "SELECT owner_name, owner_document, ispb, branch, account, account_type"
    " FROM sandbox_dict_keys WHERE key = ? AND key_type = ?"
)


class SimulatedPixNetwork:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        participants: ParticipantDirectory,
        latency: timedelta,
        home: str | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._latency = latency
        # A key nobody registered resolves to an account at another participant than
        # ``home``, the PSP this network serves: its own clients' keys are all registered.
        self._pix_ispbs = sorted(p.ispb for p in participants.all() if p.pix and p.ispb != home)
        self._inbound: Inbound | None = None
        self._spi = SpiPayments(db, clock=clock, latency=latency)
        self._returns = SpiReturns(db, clock=clock, latency=latency, home=home, status=self.status)

    # DICT -----------------------------------------------------------------------------

    def register(
        self,
        key_type: PixKeyType,
        key: str,
        owner: Creditor,
        reject_with: ReasonCode | None = None,
    ) -> None:
        """Add a key (``service.sandbox.SandboxKeyRegistry``); ``PixKeyAlreadyRegistered``
        if it is taken, ``ValidationFailed`` if a CPF or CNPJ key is not its owner's own
        document (BCB: such a key is the owner's document, and only that owner's)."""
        if key_type in (PixKeyType.CPF, PixKeyType.CNPJ) and key != owner.document:
            raise ValidationFailed(
                [
                    FieldError(
                        "owner.document",
                        f"must equal the key: a {key_type.value} key is its owner's own document",
                    )
                ]
            )
        with self._db.transaction(write=True) as tx:
            row = insert(t.sandbox_dict_keys).values(
                key=key,
                key_type=key_type.value,
                owner_name=owner.name,
                owner_document=owner.document,
                ispb=owner.ispb,
                branch=owner.branch,
                account=owner.account,
                account_type=owner.account_type.value,
                reject_with=reject_with.value if reject_with else None,
                created_at=self._clock.now(),
            )
            try:
                tx.conn.execute(row)
            except IntegrityError:  # the key is taken, maybe by a process starting beside
                raise PixKeyAlreadyRegistered() from None
            tx.commit()

    def unregister(self, key: str) -> None:
        with self._db.transaction(write=True) as tx:
            tx.conn.execute(delete(t.sandbox_dict_keys).where(t.sandbox_dict_keys.c.key == key))
            tx.commit()

    def install_demo_keys(self) -> None:
        self.install_keys(DEMO_KEYS)

    def install_keys(self, entries: list[DictKey]) -> None:
        """Register those of ``entries`` that are not: one read at every start but the
        first. A key another process registers meanwhile is left as it is."""
        keys = t.sandbox_dict_keys.c.key
        with self._db.transaction(write=False) as tx:
            query = select(keys).where(keys.in_([entry.key for entry in entries]))
            taken = set(tx.conn.execute(query).scalars())
        for entry in entries:
            if entry.key not in taken:
                with contextlib.suppress(PixKeyAlreadyRegistered):
                    self.register(entry.key_type, entry.key, entry.owner, entry.reject_with)

    def lookup(self, key_type: PixKeyType, key: str) -> Creditor | None:
        with self._db.transaction(write=False) as tx:
            rows = run_sql(tx.conn, _LOOKUP, (key, key_type.value))
        if rows:
            name, document, ispb, branch, account, account_type = rows[0]
            return Creditor(name, document, ispb, branch, account, AccountType(account_type))
        if key_type in (PixKeyType.CPF, PixKeyType.CNPJ):
            return self._account_of(key)
        return None

    def _account_of(self, document: str) -> Creditor:
        """A stable, synthetic account owned by ``document``."""
        digest = int.from_bytes(hashlib.sha256(document.encode()).digest()[:8], "big")
        ispb = self._pix_ispbs[digest % len(self._pix_ispbs)]
        account = str(100_000_000 + digest % 900_000_000)
        return Creditor(
            "Sandbox Account Holder", document, ispb, "0001", account, AccountType.CHECKING
        )

    # SPI ------------------------------------------------------------------------------

    def submit(self, order: PaymentOrder) -> RailStatus:
        [answer] = self.submit_many([order])
        if answer.state is RailState.UNKNOWN:
            raise RailUnavailable("SPI took the payment, but its answer was lost")
        return answer

    def submit_many(self, orders: list[PaymentOrder]) -> list[RailStatus]:
        return self._spi.submit_many(orders)

    def status(self, idempotency_key: str) -> RailStatus:
        found = self._spi.statuses([idempotency_key])
        return found.get(idempotency_key, RailStatus(RailState.NOT_FOUND))

    # Inbound: the network bringing money to us ---------------------------------------

    def connect(self, inbound: Inbound) -> None:
        self._inbound = self._returns.inbound = inbound

    def send_return(self, order: ReturnOrder) -> RailStatus:
        """A refund of a Pix we received, sent back (``simulated_returns``)."""
        return self._returns.send(order)

    def pay_in(self, payment: IncomingPayment) -> Receipt:
        """Play a payer at another participant: SPI brings ``payment`` to us. With no
        ``Inbound`` connected, nothing here can take it: rejected with AC03."""
        if self._inbound is None:
            return Receipt(False, ReasonCode.AC03.value)
        return self._inbound.receive(payment)

    def send_back(self, end_to_end_id: str, amount: Centavos, reason: str) -> Receipt:
        """Play the payee's PSP returning ``amount`` of a payment we made, which SPI
        settled: SPI brings the return (pacs.004) to us, with a ``returnId`` of its own."""
        p = t.sandbox_spi_payments.c
        with self._db.transaction(write=False) as tx:
            row = tx.conn.execute(
                select(t.sandbox_spi_payments).where(p.end_to_end_id == end_to_end_id)
            ).first()
        now = self._clock.now()
        settled = (
            row is not None
            and self._spi.status_of(
                row.end_to_end_id, RailState(row.outcome), row.reason_code, row.settle_at
            ).state
            is RailState.SETTLED
        )
        if row is None or not settled:
            raise NotFound(f"No settled payment {end_to_end_id} in the simulated SPI.")
        if not 0 < amount <= row.amount:
            raise ValidationFailed(
                [FieldError("amount", "must be more than 0 and at most the payment's")]
            )
        back = IncomingReturn(
            return_id=return_id(row.creditor_ispb, now, new_id()),
            end_to_end_id=end_to_end_id,
            amount=amount,
            reason=reason,
            returned_at=now,
        )
        if self._inbound is None:
            return Receipt(False, ReasonCode.AC03.value)
        return self._inbound.returned(back)

    def rejection_for(self, creditor: Creditor) -> str | None:
        """The reason code SPI would reject a payment to ``creditor`` with, if any."""
        return self._spi.rejection_for(creditor)
