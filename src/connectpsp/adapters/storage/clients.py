"""SQL storage for clients and the access-token signing keys."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import upsert
from connectpsp.domain.clients import Client
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.risk import RiskRules

__all__ = ["SqlClients", "SqlKeys"]


class SqlClients:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, client: Client) -> None:
        self._c.execute(
            insert(t.clients).values(
                id=client.id,
                name=client.name,
                secret_hash=client.secret_hash,
                crypto_token_enc=client.crypto_token_enc,
                app_token_hash=client.app_token_hash,
                webhook_secret_enc=client.webhook_secret_enc,
                fee_fixed=client.fee_plan.fixed,
                fee_bps=client.fee_plan.bps,
                per_transaction_limit=client.per_transaction_limit,
                daily_limit=client.daily_limit,
                active=client.active,
                created_at=client.created_at,
                merchant_city=client.merchant_city,
                document=client.document,
                cash_in_fee_fixed=client.cash_in_fee_plan.fixed,
                cash_in_fee_bps=client.cash_in_fee_plan.bps,
                secret_rotated_at=client.secret_rotated_at,
                **_risk_columns(client.risk),
            )
        )

    def get(self, client_id: str, *, lock: bool = False) -> Client | None:
        query = select(t.clients).where(t.clients.c.id == client_id)
        row = self._c.execute(query.with_for_update() if lock else query).first()
        return _client(row) if row else None

    def list(self) -> list[Client]:
        rows = self._c.execute(select(t.clients).order_by(t.clients.c.created_at)).all()
        return [_client(r) for r in rows]

    def set_risk(self, client_id: str, rules: RiskRules) -> bool:
        c = t.clients.c
        done = self._c.execute(
            update(t.clients).where(c.id == client_id).values(**_risk_columns(rules))
        )
        return self._changed(done.rowcount == 1)

    def update(self, client: Client) -> bool:
        """Write what an operator may change: the name, the fees and the limits."""
        done = self._c.execute(
            update(t.clients)
            .where(t.clients.c.id == client.id)
            .values(
                name=client.name,
                fee_fixed=client.fee_plan.fixed,
                fee_bps=client.fee_plan.bps,
                cash_in_fee_fixed=client.cash_in_fee_plan.fixed,
                cash_in_fee_bps=client.cash_in_fee_plan.bps,
                per_transaction_limit=client.per_transaction_limit,
                daily_limit=client.daily_limit,
                **_risk_columns(client.risk),
            )
        )
        return self._changed(done.rowcount == 1)

    def set_active(self, client_id: str, active: bool) -> bool:
        c = t.clients.c
        done = self._c.execute(update(t.clients).where(c.id == client_id).values(active=active))
        return self._changed(done.rowcount == 1)

    def set_secret(self, client_id: str, secret_hash: str, rotated_at: datetime) -> bool:
        c = t.clients.c
        done = self._c.execute(
            update(t.clients)
            .where(c.id == client_id)
            .values(secret_hash=secret_hash, secret_rotated_at=rotated_at)
        )
        return self._changed(done.rowcount == 1)

    def generation(self) -> int:
        found = self._c.execute(select(t.client_changes.c.generation)).scalar()
        return int(found or 0)

    def _changed(self, changed: bool) -> bool:
        """Raise the changes' number in the change's transaction: servers that remember
        the client forget it at their next look (``AuthService.follow_changes``)."""
        if changed:
            self._c.execute(_RAISE_GENERATION)
        return changed


_RAISE_GENERATION = (
    update(t.client_changes)
    .where(t.client_changes.c.id == 1)
    .values(generation=t.client_changes.c.generation + 1)
)


def _client(r: Row[Any]) -> Client:
    return Client(
        id=r.id,
        name=r.name,
        fee_plan=FeePlan(fixed=r.fee_fixed, bps=r.fee_bps),
        per_transaction_limit=r.per_transaction_limit,
        daily_limit=r.daily_limit,
        active=bool(r.active),
        created_at=r.created_at,
        secret_hash=r.secret_hash,
        crypto_token_enc=r.crypto_token_enc,
        app_token_hash=r.app_token_hash,
        webhook_secret_enc=r.webhook_secret_enc,
        risk=RiskRules(
            max_cash_outs_per_minute=r.max_cash_outs_per_minute,
            max_amount_per_hour=r.max_amount_per_hour,
            new_payee_limit=r.new_payee_limit,
            night_limit=r.night_limit,
            night_start=time.fromisoformat(r.night_window[:5]),
            night_end=time.fromisoformat(r.night_window[6:]),
        ),
        merchant_city=r.merchant_city,
        document=r.document,
        cash_in_fee_plan=FeePlan(fixed=r.cash_in_fee_fixed, bps=r.cash_in_fee_bps),
        secret_rotated_at=r.secret_rotated_at,
    )


def _risk_columns(rules: RiskRules) -> dict[str, Any]:
    return {
        "max_cash_outs_per_minute": rules.max_cash_outs_per_minute,
        "max_amount_per_hour": rules.max_amount_per_hour,
        "new_payee_limit": rules.new_payee_limit,
        "night_limit": rules.night_limit,
        "night_window": rules.night_window,
    }


class SqlKeys:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def all(self) -> dict[str, str]:
        rows = self._c.execute(select(t.signing_keys.c.kid, t.signing_keys.c.secret_enc))
        return {r.kid: r.secret_enc for r in rows}

    def add(self, kid: str, secret_enc: str, created_at: datetime) -> None:
        self._c.execute(
            upsert(self._c, t.signing_keys)
            .values(kid=kid, secret_enc=secret_enc, created_at=created_at)
            .on_conflict_do_nothing(index_elements=["kid"])
        )
