"""A client: a merchant that holds a balance, sends cash-outs and receives cash-ins."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.money import Centavos
from connectpsp.domain.risk import RiskRules

__all__ = ["DEFAULT_MERCHANT_CITY", "Client", "ClientCredentials"]

DEFAULT_MERCHANT_CITY = "SAO PAULO"


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
    # What its BR Codes show a payer (the name is ``name``), its own CPF/CNPJ (the only
    # document it may register as a Pix key), and the fee on the Pix it receives.
    merchant_city: str = DEFAULT_MERCHANT_CITY
    document: str | None = None
    cash_in_fee_plan: FeePlan = field(default_factory=FeePlan)
    # When its clientSecret was last replaced (``ClientService.rotate_secret``); None: the
    # secret it was created with.
    secret_rotated_at: datetime | None = None


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
