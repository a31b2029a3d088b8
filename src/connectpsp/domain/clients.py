"""A client: a merchant that holds a balance and sends cash-outs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.money import Centavos
from connectpsp.domain.risk import RiskRules

__all__ = ["Client", "ClientCredentials"]


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    fee_plan: FeePlan
    per_transaction_limit: Centavos
    daily_limit: Centavos
    active: bool
    created_at: datetime
    # Stored forms only: hashes and ciphertexts, never the secrets themselves.
    secret_hash: str
    crypto_token_enc: str
    app_token_hash: str
    webhook_secret_enc: str
    risk: RiskRules = field(default_factory=RiskRules)  # its own limits (domain.risk)


@dataclass(frozen=True)
class ClientCredentials:
    """Shown once, when a client is created; ConnectPSP keeps only hashes and ciphertexts."""

    client_id: str
    client_secret: str
    crypto_token: str
    application_token: str
    webhook_secret: str

    def as_json(self) -> dict[str, str]:
        return {
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            "cryptoToken": self.crypto_token,
            "applicationToken": self.application_token,
            "webhookSecret": self.webhook_secret,
        }
