"""What the API is given: the use cases its routes call and the few settings it reads.

The composition root (``bootstrap.Container``) satisfies ``Services`` structurally, so the
API imports neither it nor any adapter; a test may hand ``create_app`` something smaller.
"""

from __future__ import annotations

from typing import Any, Protocol

from connectpsp.domain.ledger import Balance
from connectpsp.domain.money import Centavos
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.service.auth import AuthService
from connectpsp.service.batch import CashOutBatches
from connectpsp.service.brcode_payments import BrCodePayments
from connectpsp.service.cashins import CashInService
from connectpsp.service.cashouts import CashOutService
from connectpsp.service.endpoints import WebhookEndpoints
from connectpsp.service.infractions import Infractions
from connectpsp.service.pix_keys import PixKeys
from connectpsp.service.refunds import Refunds
from connectpsp.service.returns import CashOutReturns
from connectpsp.service.sandbox import (
    SandboxDict,
    SandboxFraudMarkers,
    SandboxPayer,
    SandboxReturns,
)
from connectpsp.service.security import DictSecurity
from connectpsp.service.statement import Listings

__all__ = [
    "ApiSettings",
    "Background",
    "BalanceReader",
    "LocationSigner",
    "MetricsSource",
    "Services",
]


class ApiSettings(Protocol):
    @property
    def max_body_bytes(self) -> int:
        """Larger bodies get 413 (CONNECTPSP_MAX_BODY_BYTES)."""
        ...

    @property
    def max_batch_body_bytes(self) -> int:
        """The cap of POST /cash-out/batch's body instead (CONNECTPSP_MAX_BATCH_BODY_BYTES)."""
        ...

    @property
    def sandbox(self) -> bool:
        """Whether the sandbox routes are served (CONNECTPSP_ENV=sandbox)."""
        ...

    @property
    def metrics(self) -> bool:
        """Whether requests are measured and /metrics served (CONNECTPSP_METRICS)."""
        ...


class BalanceReader(Protocol):
    def holdings(self, client_id: str) -> tuple[Balance, Centavos]:
        """The balance and what is blocked out of it, read together."""
        ...


class LocationSigner(Protocol):
    """Signs what dynamic codes' locations serve (``adapters/location_signing.py``)."""

    def sign(self, payload: dict[str, Any]) -> str:
        """``payload`` as a compact JWS."""
        ...

    def jwks(self) -> dict[str, Any]:
        """The public keys (a JWK Set) that verify what ``sign`` signed lately."""
        ...


class MetricsSource(Protocol):
    def render(self) -> bytes:
        """The metrics in Prometheus' text format, read now."""
        ...


class Services(Protocol):
    """Everything the routes use, read-only."""

    @property
    def settings(self) -> ApiSettings: ...

    @property
    def auth(self) -> AuthService: ...

    @property
    def cash_outs(self) -> CashOutService: ...

    @property
    def cash_out_batches(self) -> CashOutBatches:
        """POST /cash-out/batch: many cash-outs under one key."""
        ...

    @property
    def cash_ins(self) -> CashInService: ...

    @property
    def pix_keys(self) -> PixKeys: ...

    @property
    def returns(self) -> CashOutReturns: ...

    @property
    def refunds(self) -> Refunds: ...

    @property
    def infractions(self) -> Infractions: ...

    @property
    def sandbox_returns(self) -> SandboxReturns: ...

    @property
    def br_codes(self) -> BrCodePayments:
        """What a cash-out to a BR Code pays (a dynamic code's location fetched)."""
        ...

    @property
    def sandbox_payer(self) -> SandboxPayer: ...

    @property
    def clients(self) -> BalanceReader: ...

    @property
    def listings(self) -> Listings:
        """The lists of cash-outs and charges, and the statement."""
        ...

    @property
    def endpoints(self) -> WebhookEndpoints: ...

    @property
    def sandbox_dict(self) -> SandboxDict: ...

    @property
    def sandbox_fraud_markers(self) -> SandboxFraudMarkers: ...

    @property
    def dict_security(self) -> DictSecurity:
        """DICT's security information, cached (what GET /sandbox/dict/security shows)."""
        ...

    @property
    def participants(self) -> ParticipantDirectory:
        """What request bodies check an ISPB against."""
        ...

    @property
    def locations(self) -> LocationSigner:
        """Signs what dynamic codes' locations serve; the JWKS (GET /.well-known/jwks.json)."""
        ...

    @property
    def metrics(self) -> MetricsSource:
        """What GET /metrics answers (when ``settings.metrics``)."""
        ...

    def ping(self) -> bool:
        """Whether the database answers (GET /healthz, GET /readyz)."""
        ...

    def schema_is_current(self) -> bool:
        """Whether the database is at this version's newest migration (GET /readyz);
        raises ``StorageUnavailable`` if it does not answer."""
        ...

    def follow_client_changes(self) -> bool:
        """Forget the clients remembered if another process changed one since the last
        call (``AuthService.follow_changes``); the app calls it every second."""
        ...


class Background(Protocol):
    """Work that runs while the API serves (the settlement worker, under
    ``connectpsp serve``): started when the app starts, stopped when it stops."""

    def start(self) -> None: ...

    def stop(self) -> None: ...
