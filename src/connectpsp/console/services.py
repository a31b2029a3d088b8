"""What the console is given. The composition root (``bootstrap.Container``) satisfies
``ConsoleServices`` structurally, so the console imports no adapter, as the API does not."""

from __future__ import annotations

from typing import Protocol

from connectpsp.domain.cashin_search import CashInQuery, CashInRow, CashInTimeline
from connectpsp.domain.cashout import CashOut
from connectpsp.domain.cashout_search import CashOutQuery, CashOutTimeline
from connectpsp.domain.clients import Client, ClientCredentials
from connectpsp.domain.infractions import Infraction
from connectpsp.domain.ledger import Balance, FeePlan
from connectpsp.domain.money import Centavos
from connectpsp.domain.overview import Overview
from connectpsp.domain.refunds import Refund, RefundStatus
from connectpsp.service.clients import ClientChanges, NewSecret
from connectpsp.service.endpoints import WebhookEndpoints
from connectpsp.service.infractions import Infractions
from connectpsp.service.operators import Operators
from connectpsp.service.pix_keys import PixKeys
from connectpsp.service.ports import ClientDelivery
from connectpsp.service.sandbox import SandboxPayer, SandboxReturns

__all__ = [
    "CashInReader",
    "ClientReader",
    "Clients",
    "ConsoleReader",
    "ConsoleServices",
    "ConsoleSettings",
    "OverviewReader",
]


class ConsoleSettings(Protocol):
    @property
    def sandbox(self) -> bool:
        """Outside the sandbox the session cookie is Secure (sent over HTTPS only)."""
        ...


class ClientReader(Protocol):
    def list(self) -> list[Client]: ...
    def get(self, client_id: str) -> Client: ...
    def balance(self, client_id: str) -> Balance: ...
    def holdings(self, client_id: str) -> tuple[Balance, Centavos]:
        """The balance and what is blocked out of it, read together."""
        ...

    def fund(self, client_id: str, amount: Centavos) -> Balance:
        """Sandbox only: credit a client from the outside world (``sandbox fund``)."""
        ...


class Clients(ClientReader, Protocol):
    """The clients' use cases (``service.clients.ClientService``) the console calls."""

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
    ) -> ClientCredentials: ...

    def set_active(self, client_id: str, active: bool) -> bool: ...
    def rotate_secret(self, client_id: str) -> NewSecret: ...
    def update(self, client_id: str, changes: ClientChanges) -> tuple[Client, Client]: ...


class OverviewReader(Protocol):
    def overview(self) -> Overview: ...

    def infraction(self, infraction_id: str) -> Infraction | None:
        """Any client's MED report."""
        ...


class ConsoleReader(Protocol):
    """Reads across clients, each served by an index (adapters/storage/console_reads.py)."""

    def search(self, query: CashOutQuery, after: str | None, limit: int) -> list[CashOut]:
        """Newest first; ``after``: the id of the last cash-out already seen."""
        ...

    def timeline(self, cash_out_id: str) -> CashOutTimeline | None: ...

    def delivery(self, delivery_id: str) -> ClientDelivery | None: ...


class CashInReader(Protocol):
    """Received Pix and refunds across clients (adapters/storage/console_cashin_reads.py)."""

    def search(self, query: CashInQuery, after: str | None, limit: int) -> list[CashInRow]:
        """Newest first; ``after``: the endToEndId of the last cash-in already seen."""
        ...

    def timeline(self, end_to_end_id: str) -> CashInTimeline | None: ...

    def refunds(self, status: RefundStatus | None, after: str | None, limit: int) -> list[Refund]:
        """Newest first; ``after``: the id of the last refund already seen."""
        ...


class ConsoleServices(Protocol):
    @property
    def settings(self) -> ConsoleSettings: ...

    @property
    def operators(self) -> Operators: ...

    @property
    def overview(self) -> OverviewReader: ...

    @property
    def clients(self) -> Clients: ...

    @property
    def pix_keys(self) -> PixKeys: ...

    @property
    def infractions(self) -> Infractions: ...

    @property
    def endpoints(self) -> WebhookEndpoints: ...

    @property
    def console_reads(self) -> ConsoleReader: ...

    @property
    def cash_in_reads(self) -> CashInReader: ...

    # The sandbox's actions (console/sandbox.py): the use cases its API routes call.
    @property
    def sandbox_payer(self) -> SandboxPayer: ...

    @property
    def sandbox_returns(self) -> SandboxReturns: ...
