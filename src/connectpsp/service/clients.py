"""Creating, listing, changing, disabling and enabling clients, rotating their
clientSecret, and funding them in the sandbox."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from connectpsp.domain.blocks import blocked_account_code
from connectpsp.domain.clients import DEFAULT_MERCHANT_CITY, Client, ClientCredentials
from connectpsp.domain.clock import Clock
from connectpsp.domain.documents import document_type
from connectpsp.domain.errors import FieldError, LedgerViolation, NotFound, ValidationFailed
from connectpsp.domain.ids import new_id, new_secret
from connectpsp.domain.ledger import WORLD, Balance, FeePlan, client_account_code, single
from connectpsp.domain.money import MAX_CENTAVOS, Centavos
from connectpsp.domain.risk import RiskRules
from connectpsp.domain.text import clean_text
from connectpsp.domain.webhooks import new_webhook_secret
from connectpsp.service.ports import Cipher, SecretHasher, UnitOfWorkFactory

__all__ = [
    "MAX_CITY_LENGTH",
    "MAX_NAME_LENGTH",
    "ClientChanges",
    "ClientService",
    "NewSecret",
    "changed_client",
    "crypto_context",
    "token_digest",
    "validate_changes",
    "validate_new_client",
    "webhook_context",
]

MAX_NAME_LENGTH = 120  # the clients.name column's length


MAX_CITY_LENGTH = 15  # a BR Code's merchant city


def crypto_context(client_id: str) -> str:
    return f"client:{client_id}:crypto-token"


def webhook_context(client_id: str) -> str:
    return f"client:{client_id}:webhook-secret"


@dataclass(frozen=True)
class NewSecret:
    """A client's new clientSecret, shown once; ConnectPSP keeps only its hash."""

    client_id: str
    client_secret: str = field(repr=False)
    rotated_at: datetime


def token_digest(token: str) -> str:
    """Application tokens are 256-bit random values, so a plain SHA-256 is a safe hash."""
    return hashlib.sha256(token.encode()).hexdigest()


class ClientService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        clock: Clock,
        hasher: SecretHasher,
        cipher: Cipher,
        default_fee_plan: FeePlan,
        default_per_transaction_limit: Centavos,
        default_daily_limit: Centavos,
        on_changed: Callable[[str], None] | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._cipher = cipher
        self._fee_plan = default_fee_plan
        self._per_tx_limit = default_per_transaction_limit
        self._daily_limit = default_daily_limit
        # Told a client's id once its record changed, so what remembers it forgets it.
        self._on_changed = on_changed

    def create(
        self,
        name: str,
        *,
        fee_plan: FeePlan | None = None,
        per_transaction_limit: Centavos | None = None,
        daily_limit: Centavos | None = None,
        merchant_city: str | None = None,
        document: str | None = None,
        cash_in_fee_plan: FeePlan | None = None,
        client_id: str | None = None,
    ) -> ClientCredentials:
        """A new client and its credentials, shown once. ``client_id``: the id a caller
        chose beforehand (``domain.ids.new_id``), so a form sent twice cannot make two
        clients: the second is refused by the database (``StorageConflict``)."""
        name = validate_new_client(
            name,
            per_transaction_limit=per_transaction_limit,
            daily_limit=daily_limit,
            merchant_city=merchant_city,
            document=document,
        )
        client_id = client_id or new_id()
        creds = ClientCredentials(
            client_id=client_id,
            client_secret=new_secret("cs_"),
            crypto_token=new_secret("ct_"),
            application_token=new_secret("at_"),
            webhook_secret=new_webhook_secret(),
        )
        client = Client(
            id=client_id,
            name=name,
            fee_plan=fee_plan or self._fee_plan,
            # An explicit 0 is a limit (nothing may go out), not "use the default".
            per_transaction_limit=_given_or(per_transaction_limit, self._per_tx_limit),
            daily_limit=_given_or(daily_limit, self._daily_limit),
            active=True,
            created_at=self._clock.now(),
            secret_hash=self._hasher.hash(creds.client_secret),
            crypto_token_enc=self._cipher.encrypt(
                creds.crypto_token, context=crypto_context(client_id)
            ),
            app_token_hash=token_digest(creds.application_token),
            webhook_secret_enc=self._cipher.encrypt(
                creds.webhook_secret, context=webhook_context(client_id)
            ),
            merchant_city=clean_text(merchant_city.strip())
            if merchant_city
            else DEFAULT_MERCHANT_CITY,
            document=document,
            cash_in_fee_plan=cash_in_fee_plan or FeePlan(),
        )
        with self._uow(write=True) as uow:
            uow.clients.add(client)
            for code in (client_account_code(client_id), blocked_account_code(client_id)):
                uow.ledger.open_account(code, client_id=client_id, no_overdraft=True)
            uow.commit()
        return creds

    def list(self) -> list[Client]:
        with self._uow() as uow:
            return uow.clients.list()

    def get(self, client_id: str) -> Client:
        with self._uow() as uow:
            client = uow.clients.get(client_id)
        if client is None:
            raise NotFound(f"No client {client_id}.")
        return client

    def set_risk(self, client_id: str, rules: RiskRules) -> None:
        """Replace a client's own fraud limits (``domain.risk``); they apply to its next
        cash-outs, here at once and in other processes at their next look
        (``AuthService.follow_changes``, every ``CLIENT_CHANGES_EVERY``)."""
        with self._uow(write=True) as uow:
            if not uow.clients.set_risk(client_id, rules):
                raise NotFound(f"No client {client_id}.")
            uow.commit()
        if self._on_changed is not None:
            self._on_changed(client_id)

    def set_active(self, client_id: str, active: bool) -> bool:
        """Enable or disable a client; whether it was active before. A disabled client
        gets no token, and the tokens it holds are refused: at once in this process,
        in others at their next look at the clients' changes (``follow_changes``).
        What it already had accepted still settles, and its webhooks still go out."""
        with self._uow(write=True) as uow:
            before = uow.clients.get(client_id, lock=True)
            if before is None or not uow.clients.set_active(client_id, active):
                raise NotFound(f"No client {client_id}.")
            uow.commit()
        if self._on_changed is not None:
            self._on_changed(client_id)
        return before.active

    def rotate_secret(self, client_id: str) -> NewSecret:
        """Replace a client's clientSecret (a leaked one, say): the old secret gets no
        token from now on, and the tokens issued for it are refused (``service.auth``):
        at once in this process, in others at their next look (``follow_changes``). Its
        other credentials (cryptoToken, applicationToken, webhookSecret) stay."""
        new = NewSecret(client_id, new_secret("cs_"), self._clock.now())
        hashed = self._hasher.hash(new.client_secret)  # argon2: before the writer's lock
        with self._uow(write=True) as uow:
            if not uow.clients.set_secret(client_id, hashed, new.rotated_at):
                raise NotFound(f"No client {client_id}.")
            uow.commit()
        if self._on_changed is not None:
            self._on_changed(client_id)
        return new

    def update(self, client_id: str, changes: ClientChanges) -> tuple[Client, Client]:
        """Apply ``changes`` (``changed_client``) in one transaction; the client before and
        after. Its next cash-outs and cash-ins follow them: at once in this process,
        in others at their next look (``follow_changes``)."""
        with self._uow(write=True) as uow:
            # Locked: two updates at once each apply to what the other wrote, and neither
            # change is lost (a part of a fee given alone keeps the other part).
            before = uow.clients.get(client_id, lock=True)
            if before is None:
                raise NotFound(f"No client {client_id}.")
            after = changed_client(before, changes)
            uow.clients.update(after)
            uow.commit()
        if self._on_changed is not None:
            self._on_changed(client_id)
        return before, after

    def fund(self, client_id: str, amount: Centavos) -> Balance:
        """Credit a client from the outside world (sandbox top-up), through the ledger."""
        with self._uow(write=True) as uow:
            if uow.clients.get(client_id) is None:
                raise NotFound(f"No client {client_id}.")
            account = client_account_code(client_id)
            funding = single(
                new_id(),
                debit=WORLD,
                credit=account,
                amount=amount,
                code="sandbox_fund",
                ref=client_id,
            )
            uow.ledger.record([funding])
            balance = uow.ledger.balance(account)
            uow.commit()
        return balance

    def balance(self, client_id: str) -> Balance:
        with self._uow() as uow:
            return uow.ledger.balance(client_account_code(client_id))

    def holdings(self, client_id: str) -> tuple[Balance, Centavos]:
        """The client's balance and what is blocked out of it (``blocked``), read together:
        read apart, a block committed between the two reads was counted in both, and
        the total held its amount twice."""
        account, held = client_account_code(client_id), blocked_account_code(client_id)
        with self._uow() as uow:
            found = uow.ledger.balances([account, held])
        if account not in found or held not in found:
            raise LedgerViolation(f"No ledger accounts for client {client_id!r}.")
        return found[account], found[held].total

    def blocked(self, client_id: str) -> Centavos:
        """What is held out of the client's available balance (``domain.blocks``)."""
        with self._uow() as uow:
            return uow.ledger.balance(blocked_account_code(client_id)).total


def validate_new_client(
    name: str,
    *,
    per_transaction_limit: Centavos | None = None,
    daily_limit: Centavos | None = None,
    merchant_city: str | None = None,
    document: str | None = None,
) -> str:
    """The client's name without surrounding blanks, or ``ValidationFailed`` naming each bad
    argument (``name``, ``per_transaction_limit``, ``daily_limit``, ``merchant_city``,
    ``document``). Pure: a caller checks its input with it before it opens anything."""
    errors: list[FieldError] = []
    clean = _checked_name(name, errors)
    _check_limits(errors, per_transaction_limit=per_transaction_limit, daily_limit=daily_limit)
    if merchant_city is not None and not 1 <= len(merchant_city.strip()) <= MAX_CITY_LENGTH:
        # What a BR Code's field 60 holds, shown to every payer.
        errors.append(FieldError("merchant_city", f"must be 1 to {MAX_CITY_LENGTH} characters"))
    if document is not None:
        try:
            document_type(document)
        except ValueError as error:
            errors.append(FieldError("document", str(error)))
    if errors:
        raise ValidationFailed(errors)
    return clean


def _checked_name(name: str, errors: list[FieldError]) -> str:
    clean = name.strip()
    if not clean:
        errors.append(FieldError("name", "must not be empty"))
    elif len(clean) > MAX_NAME_LENGTH:
        errors.append(FieldError("name", f"must be at most {MAX_NAME_LENGTH} characters"))
    else:
        try:  # the rule every text from outside follows (bytes that were not UTF-8 too)
            clean = clean_text(clean)
        except ValueError as error:
            errors.append(FieldError("name", str(error)))
    return clean


def _check_limits(errors: list[FieldError], **limits: Centavos | None) -> None:
    for name, limit in limits.items():
        if limit is not None and not 0 <= limit <= MAX_CENTAVOS:
            errors.append(FieldError(name, f"must be between 0 and {MAX_CENTAVOS} centavos"))


@dataclass(frozen=True)
class ClientChanges:
    """What ``ClientService.update`` changes; None keeps a setting. A fee's two parts
    change apart: ``fee_fixed`` alone keeps the plan's ``bps``. ``risk`` holds fields of
    ``RiskRules`` (None turns a rule off)."""

    name: str | None = None
    fee_fixed: Centavos | None = None
    fee_bps: int | None = None
    cash_in_fee_fixed: Centavos | None = None
    cash_in_fee_bps: int | None = None
    per_transaction_limit: Centavos | None = None
    daily_limit: Centavos | None = None
    risk: Mapping[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self != ClientChanges()


def validate_changes(changes: ClientChanges) -> None:
    """Each value ``changes`` gives, checked on its own; ``ValidationFailed`` names every
    bad one (``name``, ``fee_fixed``, ``fee_bps``, ``cash_in_fee_fixed``,
    ``cash_in_fee_bps``, ``per_transaction_limit``, ``daily_limit``, and the fields of
    ``RiskRules``). Pure: a caller checks its input with it before it opens anything."""
    errors: list[FieldError] = []
    if changes.name is not None:
        _checked_name(changes.name, errors)
    _check_limits(
        errors,
        per_transaction_limit=changes.per_transaction_limit,
        daily_limit=changes.daily_limit,
    )
    for prefix, fixed, bps in (
        ("fee_", changes.fee_fixed, changes.fee_bps),
        ("cash_in_fee_", changes.cash_in_fee_fixed, changes.cash_in_fee_bps),
    ):
        try:
            FeePlan(fixed=fixed or 0, bps=bps or 0)
        except ValidationFailed as error:
            errors.extend(FieldError(prefix + e.field, e.message) for e in error.errors)
    try:  # each rule's value stands alone; a night window is always given whole
        replace(RiskRules(), **changes.risk)
    except ValidationFailed as error:
        errors.extend(error.errors)
    if errors:
        raise ValidationFailed(errors)


def changed_client(client: Client, changes: ClientChanges) -> Client:
    """``client`` with ``changes`` applied (``validate_changes`` first). Pure."""
    validate_changes(changes)
    return replace(
        client,
        name=client.name if changes.name is None else _checked_name(changes.name, []),
        fee_plan=FeePlan(
            fixed=_given_or(changes.fee_fixed, client.fee_plan.fixed),
            bps=_given_or(changes.fee_bps, client.fee_plan.bps),
        ),
        cash_in_fee_plan=FeePlan(
            fixed=_given_or(changes.cash_in_fee_fixed, client.cash_in_fee_plan.fixed),
            bps=_given_or(changes.cash_in_fee_bps, client.cash_in_fee_plan.bps),
        ),
        per_transaction_limit=_given_or(
            changes.per_transaction_limit, client.per_transaction_limit
        ),
        daily_limit=_given_or(changes.daily_limit, client.daily_limit),
        risk=replace(client.risk, **changes.risk),
    )


def _given_or(value: Centavos | None, default: Centavos) -> Centavos:
    return default if value is None else value
