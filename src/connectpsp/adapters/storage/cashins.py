"""SQL storage for cash-in: charges, the Pix received, and the clients' own Pix keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows, run_sql
from connectpsp.adapters.storage.times import times
from connectpsp.domain.blocks import Block, BlockReason
from connectpsp.domain.cashin import CashIn, CashInPayer, Charge, ChargeStatus, ChargeType
from connectpsp.domain.returns import CashOutReturn
from connectpsp.service.ports import PixKey

__all__ = ["SqlBlocks", "SqlCashIns", "SqlCharges", "SqlPixKeys", "SqlReturns"]


class SqlCharges:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, charges: list[Charge]) -> None:
        """Each charge numbered after its client's last, under the client's row lock
        (clients in id order, so concurrent batches lock alike): the list's order is
        the order the charges commit in."""
        if not charges:
            return
        made: dict[str, int] = {}
        for charge in charges:
            made[charge.client_id] = made.get(charge.client_id, 0) + 1
        numbered: dict[str, int] = {}
        for client_id in sorted(made):
            (last,) = run_sql(
                self._c,
                "UPDATE clients SET charges_made = charges_made + ? WHERE id = ?"
                " RETURNING charges_made",
                (made[client_id], client_id),
            )
            numbered[client_id] = int(last[0]) - made[client_id]
        rows = []
        for charge in charges:
            numbered[charge.client_id] += 1
            rows.append({**_charge_row(charge), "seq": numbered[charge.client_id]})
        insert_rows(self._c, t.charges, rows)

    def get(self, client_id: str, internal_code: str) -> Charge | None:
        c = t.charges.c
        return self._one(
            select(t.charges).where(c.internal_code == internal_code, c.client_id == client_id)
        )

    def by_external_reference(self, client_id: str, reference: str) -> Charge | None:
        c = t.charges.c
        return self._one(
            select(t.charges).where(c.client_id == client_id, c.external_reference == reference)
        )

    def references_taken(self, references: list[tuple[str, str]]) -> set[tuple[str, str]]:
        if not references:
            return set()
        rows = run_sql(
            self._c,
            "SELECT client_id, external_reference FROM charges WHERE external_reference IN ({in})",
            (sorted({ref for _, ref in references}),),
        )
        return {(client_id, ref) for client_id, ref in rows} & set(references)

    def by_txid(self, txid: str, *, lock: bool = False) -> Charge | None:
        query = select(t.charges).where(t.charges.c.txid == txid)
        return self._one(query.with_for_update() if lock else query)

    def by_location(self, location_id: str) -> Charge | None:
        return self._one(select(t.charges).where(t.charges.c.location_id == location_id))

    def by_id(self, charge_id: str, *, lock: bool = False) -> Charge | None:
        query = select(t.charges).where(t.charges.c.id == charge_id)
        return self._one(query.with_for_update() if lock else query)

    def change(self, charge: Charge, *, was: ChargeStatus) -> bool:
        c = t.charges.c
        done = self._c.execute(
            update(t.charges)
            .where(c.id == charge.id, c.status == was.value)
            .values(status=charge.status.value, updated_at=charge.updated_at)
        )
        return done.rowcount == 1

    def _one(self, query: Any) -> Charge | None:
        row = self._c.execute(query).first()
        return _charge(row) if row else None


def _charge_row(c: Charge) -> dict[str, Any]:
    return {
        "id": c.id,
        "internal_code": c.internal_code,
        "client_id": c.client_id,
        "txid": c.txid,
        "external_reference": c.external_reference,
        "type": c.type.value,
        "status": c.status.value,
        "amount": c.amount,
        "description": c.description,
        "pix_key": c.pix_key,
        "location_id": c.location_id,
        "br_code": c.br_code,
        "expires_at": c.expires_at,
        "webhook_url": c.webhook_url,
        "payer_name": c.payer_name,
        "payer_document": c.payer_document,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _charge(r: Row[Any]) -> Charge:
    return Charge(
        id=r.id,
        internal_code=r.internal_code,
        client_id=r.client_id,
        txid=r.txid,
        external_reference=r.external_reference,
        type=ChargeType(r.type),
        status=ChargeStatus(r.status),
        amount=r.amount,
        description=r.description,
        pix_key=r.pix_key,
        location_id=r.location_id,
        br_code=r.br_code,
        expires_at=r.expires_at,
        created_at=r.created_at,
        updated_at=r.updated_at,
        webhook_url=r.webhook_url,
        payer_name=r.payer_name,
        payer_document=r.payer_document,
    )


class SqlCashIns:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, cash_in: CashIn) -> None:
        self._c.execute(
            insert(t.cash_ins).values(
                end_to_end_id=cash_in.end_to_end_id,
                client_id=cash_in.client_id,
                charge_id=cash_in.charge_id,
                amount=cash_in.amount,
                fee=cash_in.fee,
                pix_key=cash_in.pix_key,
                txid=cash_in.txid,
                payer_name=cash_in.payer.name,
                payer_document=cash_in.payer.document,
                payer_ispb=cash_in.payer.ispb,
                paid_at=cash_in.paid_at,
                received_at=cash_in.received_at,
            )
        )

    def get(self, end_to_end_id: str) -> CashIn | None:
        row = self._c.execute(
            select(t.cash_ins).where(t.cash_ins.c.end_to_end_id == end_to_end_id)
        ).first()
        return _cash_in(row) if row else None

    def of_charges(self, charge_ids: list[str]) -> dict[str, list[CashIn]]:
        found: dict[str, list[CashIn]] = {charge_id: [] for charge_id in charge_ids}
        if not charge_ids:
            return found
        c = t.cash_ins.c
        rows = self._c.execute(
            select(t.cash_ins)
            .where(c.charge_id.in_(charge_ids))
            .order_by(c.paid_at, c.end_to_end_id)
        )
        for row in rows:
            found[row.charge_id].append(_cash_in(row))
        return found


def _cash_in(r: Row[Any]) -> CashIn:
    return CashIn(
        end_to_end_id=r.end_to_end_id,
        client_id=r.client_id,
        charge_id=r.charge_id,
        amount=r.amount,
        fee=r.fee,
        pix_key=r.pix_key,
        txid=r.txid,
        payer=CashInPayer(r.payer_name, r.payer_document, r.payer_ispb),
        paid_at=r.paid_at,
        received_at=r.received_at,
    )


class SqlPixKeys:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, key: PixKey) -> None:
        self._c.execute(
            insert(t.pix_keys).values(
                key=key.key,
                key_type=key.key_type,
                client_id=key.client_id,
                created_at=key.created_at,
                request_key=key.request_key,
            )
        )

    def get(self, key: str) -> PixKey | None:
        row = self._c.execute(select(t.pix_keys).where(t.pix_keys.c.key == key)).first()
        return _pix_key(row) if row else None

    def of_client(self, client_id: str) -> list[PixKey]:
        k = t.pix_keys.c
        rows = self._c.execute(
            select(t.pix_keys).where(k.client_id == client_id).order_by(k.created_at, k.key)
        )
        return [_pix_key(r) for r in rows]

    def delete(self, client_id: str, key: str) -> bool:
        k = t.pix_keys.c
        done = self._c.execute(delete(t.pix_keys).where(k.key == key, k.client_id == client_id))
        return done.rowcount == 1


def _pix_key(r: Row[Any]) -> PixKey:
    return PixKey(r.key, r.key_type, r.client_id, r.created_at, r.request_key)


class SqlBlocks:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, block: Block) -> None:
        self._c.execute(
            insert(t.balance_blocks).values(
                id=block.id,
                client_id=block.client_id,
                end_to_end_id=block.end_to_end_id,
                amount=block.amount,
                reason=block.reason.value,
                created_at=block.created_at,
                expires_at=block.expires_at,
            )
        )

    def get(self, block_id: str) -> Block | None:
        row = self._c.execute(
            select(t.balance_blocks).where(t.balance_blocks.c.id == block_id)
        ).first()
        return _block(row) if row else None

    def listed(self, *, client_id: str | None, active_only: bool, limit: int) -> list[Block]:
        b = t.balance_blocks.c
        query = select(t.balance_blocks).order_by(b.created_at.desc(), b.id).limit(limit)
        if client_id is not None:
            query = query.where(b.client_id == client_id)
        if active_only:
            query = query.where(b.released_at.is_(None))
        return [_block(r) for r in self._c.execute(query)]

    def release(self, block: Block) -> bool:
        b = t.balance_blocks.c
        done = self._c.execute(
            update(t.balance_blocks)
            .where(b.id == block.id, b.released_at.is_(None))
            .values(released_at=block.released_at, released_by=block.released_by)
        )
        return done.rowcount == 1


def _block(r: Row[Any]) -> Block:
    return Block(
        id=r.id,
        client_id=r.client_id,
        end_to_end_id=r.end_to_end_id,
        amount=r.amount,
        reason=BlockReason(r.reason),
        created_at=r.created_at,
        expires_at=r.expires_at,
        released_at=r.released_at,
        released_by=r.released_by,
    )


class SqlReturns:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, back: CashOutReturn) -> None:
        self._c.execute(
            insert(t.cash_out_returns).values(
                return_id=back.return_id,
                cash_out_id=back.cash_out_id,
                client_id=back.client_id,
                amount=back.amount,
                reason=back.reason,
                returned_at=back.returned_at,
            )
        )

    def get(self, return_id: str) -> CashOutReturn | None:
        r = t.cash_out_returns.c
        row = self._c.execute(select(t.cash_out_returns).where(r.return_id == return_id)).first()
        return _return(row) if row else None

    def of_cash_outs(self, cash_out_ids: list[str]) -> dict[str, list[CashOutReturn]]:
        found: dict[str, list[CashOutReturn]] = {i: [] for i in cash_out_ids}
        if not cash_out_ids:
            return found
        # Written by hand: a page of a list asks this for its hundred cash-outs, and a
        # hundred parameters through SQLAlchemy were parsed again by psycopg on each page.
        read = times(self._c).read
        rows = run_sql(
            self._c,
            "SELECT return_id, cash_out_id, client_id, amount, reason, returned_at"
            " FROM cash_out_returns WHERE cash_out_id IN ({in}) ORDER BY returned_at, return_id",
            (cash_out_ids,),
        )
        for return_id, cash_out_id, client_id, amount, reason, returned_at in rows:
            found[cash_out_id].append(
                CashOutReturn(return_id, cash_out_id, client_id, amount, reason, read(returned_at))
            )
        return found


def _return(r: Row[Any]) -> CashOutReturn:
    return CashOutReturn(r.return_id, r.cash_out_id, r.client_id, r.amount, r.reason, r.returned_at)
