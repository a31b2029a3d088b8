"""SQL storage for cash-outs."""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import insert_rows, run_sql
from connectpsp.adapters.storage.times import times
from connectpsp.domain.cashout import (
    BankAccount,
    CashOut,
    CashOutStatus,
    Creditor,
    Failure,
    Payee,
    PixDestination,
)
from connectpsp.domain.pix import AccountType, PixKeyType

__all__ = ["SqlCashOuts"]


class SqlCashOuts:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, cash_outs: list[CashOut]) -> None:
        if cash_outs:
            insert_rows(self._c, t.cash_outs, [_cash_out_row(c) for c in cash_outs])

    def get(self, client_id: str, internal_code: str) -> CashOut | None:
        c = t.cash_outs.c
        row = self._c.execute(
            select(t.cash_outs).where(c.internal_code == internal_code, c.client_id == client_id)
        ).first()
        return _cash_out(row) if row else None

    def by_external_reference(self, client_id: str, reference: str) -> CashOut | None:
        c = t.cash_outs.c
        row = self._c.execute(
            select(t.cash_outs).where(c.client_id == client_id, c.external_reference == reference)
        ).first()
        return _cash_out(row) if row else None

    def references_taken(self, references: list[tuple[str, str]]) -> set[tuple[str, str]]:
        if not references:
            return set()
        rows = run_sql(
            self._c,
            "SELECT client_id, external_reference FROM cash_outs"
            " WHERE external_reference IN ({in})",
            (sorted({ref for _, ref in references}),),
        )
        return {(client_id, ref) for client_id, ref in rows} & set(references)

    def by_id(self, cash_out_id: str) -> CashOut | None:
        row = self._c.execute(select(t.cash_outs).where(t.cash_outs.c.id == cash_out_id)).first()
        return _cash_out(row) if row else None

    def by_end_to_end_id(self, end_to_end_id: str, *, lock: bool = False) -> CashOut | None:
        query = select(t.cash_outs).where(t.cash_outs.c.end_to_end_id == end_to_end_id)
        row = self._c.execute(query.with_for_update() if lock else query).first()
        return _cash_out(row) if row else None

    def by_ids(self, cash_out_ids: list[str]) -> dict[str, CashOut]:
        rows = self._c.execute(select(t.cash_outs).where(t.cash_outs.c.id.in_(cash_out_ids)))
        found = map(_cash_out, rows)
        return {cash_out.id: cash_out for cash_out in found}

    def mark_submitted(self, cash_out: CashOut, at: datetime) -> bool:
        return bool(self.mark_submitted_many([cash_out], at))

    def mark_submitted_many(self, cash_outs: list[CashOut], at: datetime) -> set[str]:
        if not cash_outs:
            return set()
        bind = times(self._c).binder()
        stamp = bind(at)
        params = []
        for cash_out in cash_outs:
            creditor = cash_out.creditor
            assert creditor is not None
            assert cash_out.submitted_at is not None
            params.append(
                (
                    bind(cash_out.submitted_at),
                    stamp,
                    creditor.name,
                    creditor.document,
                    creditor.ispb,
                    creditor.branch,
                    creditor.account,
                    creditor.account_type.value,
                    cash_out.id,
                )
            )
        return {row[0] for row in run_sql(self._c, _MARK_SUBMITTED, params)}

    def finish(self, cash_out: CashOut, *, at: datetime, unsubmitted_only: bool = False) -> bool:
        return bool(self.finish_many([cash_out], at=at, unsubmitted_only=unsubmitted_only))

    def finish_many(
        self, cash_outs: list[CashOut], *, at: datetime, unsubmitted_only: bool = False
    ) -> set[str]:
        if not cash_outs:
            return set()
        bind = times(self._c).binder()
        stamp = bind(at)
        params = []
        for cash_out in cash_outs:
            reason = cash_out.spi_reason_code
            if reason is not None:
                # A rail may send any reason text; keep as much of it as the column holds.
                reason = reason[:_REASON_LENGTH]
            failure = cash_out.failure
            params.append(
                (
                    cash_out.status.value,
                    stamp,
                    cash_out.end_to_end_id,
                    bind(cash_out.paid_at),
                    failure.code if failure else None,
                    failure.message if failure else None,
                    reason,
                    cash_out.id,
                )
            )
        sql = _FINISH_UNSUBMITTED if unsubmitted_only else _FINISH
        return {row[0] for row in run_sql(self._c, sql, params)}


# Once only, and only while PROCESSING: of two workers racing, one submits.
_MARK_SUBMITTED = (
    "UPDATE cash_outs SET submitted_at = ?, updated_at = ?, creditor_name = ?,"
    " creditor_document = ?, creditor_ispb = ?, creditor_branch = ?, creditor_account = ?,"
    " creditor_account_type = ?"
    " WHERE id = ? AND submitted_at IS NULL AND status = 'PROCESSING' RETURNING id"
)
# The status condition makes the move happen once, whoever else tries it.
_FINISH = (
    "UPDATE cash_outs SET status = ?, updated_at = ?, end_to_end_id = ?, paid_at = ?,"
    " failure_code = ?, failure_message = ?, spi_reason_code = ?"
    " WHERE id = ? AND status = 'PROCESSING' RETURNING id"
)
_FINISH_UNSUBMITTED = _FINISH.replace(" RETURNING", " AND submitted_at IS NULL RETURNING")
_REASON_LENGTH = getattr(t.cash_outs.c.spi_reason_code.type, "length", None)


def _cash_out_row(cash_out: CashOut) -> dict[str, Any]:
    p = cash_out.payee
    d = p.destination
    pix = d if isinstance(d, PixDestination) else None
    bank = d if isinstance(d, BankAccount) else None
    return {
        "id": cash_out.id,
        "internal_code": cash_out.internal_code,
        "client_id": cash_out.client_id,
        "external_reference": cash_out.external_reference,
        "amount": cash_out.amount,
        "fee": cash_out.fee,
        "description": cash_out.description,
        "webhook_url": cash_out.webhook_url,
        "payee_name": p.name,
        "payee_document": p.document,
        "destination_type": "PIX" if pix else "BANK_ACCOUNT",
        "pix_key_type": pix.key_type.value if pix else None,
        "pix_key": pix.key if pix else None,
        "br_code": pix.br_code if pix else None,
        "txid": pix.txid if pix else None,
        "bank_ispb": bank.ispb if bank else None,
        "bank_branch": bank.branch if bank else None,
        "bank_account": bank.account if bank else None,
        "bank_account_type": bank.account_type.value if bank else None,
        "status": cash_out.status.value,
        "requested_at": cash_out.requested_at,
        "updated_at": cash_out.requested_at,
    }


# Members by value, looked up as dicts: ``Enum(value)`` costs a microsecond, and a page of
# a list makes a hundred cash-outs.
_KEY_TYPES = {k.value: k for k in PixKeyType}
_ACCOUNT_TYPES = {a.value: a for a in AccountType}
_STATUSES = {s.value: s for s in CashOutStatus}


# The columns a cash-out is built from, taken from a row in one C call: each query that
# reads cash-outs selects ``t.cash_outs`` first, so they sit at the table's own places. By
# name, a row's attribute costs half a microsecond, and a page of a hundred cash-outs read
# some three thousand of them: most of the page's time. In the order ``_cash_out``
# unpacks them (tests/integration/test_cash_out_rows.py reads back every field).
_COLUMNS = list(t.cash_outs.c.keys())
_PICK = operator.itemgetter(
    *map(
        _COLUMNS.index,
        (
            "id",
            "internal_code",
            "client_id",
            "external_reference",
            "amount",
            "fee",
            "description",
            "webhook_url",
            "payee_name",
            "payee_document",
            "destination_type",
            "pix_key_type",
            "pix_key",
            "br_code",
            "txid",
            "bank_ispb",
            "bank_branch",
            "bank_account",
            "bank_account_type",
            "status",
            "requested_at",
            "end_to_end_id",
            "paid_at",
            "failure_code",
            "failure_message",
            "spi_reason_code",
            "submitted_at",
            "creditor_name",
            "creditor_document",
            "creditor_ispb",
            "creditor_branch",
            "creditor_account",
            "creditor_account_type",
        ),
    )
)


def _cash_out(r: Row[Any]) -> CashOut:
    """A row whose first columns are ``t.cash_outs``'s, in the table's order."""
    (
        id_,
        internal_code,
        client_id,
        external_reference,
        amount,
        fee,
        description,
        webhook_url,
        payee_name,
        payee_document,
        destination_type,
        pix_key_type,
        pix_key,
        br_code,
        txid,
        bank_ispb,
        bank_branch,
        bank_account,
        bank_account_type,
        status,
        requested_at,
        end_to_end_id,
        paid_at,
        failure_code,
        failure_message,
        spi_reason_code,
        submitted_at,
        creditor_name,
        creditor_document,
        creditor_ispb,
        creditor_branch,
        creditor_account,
        creditor_account_type,
    ) = _PICK(r)
    destination: PixDestination | BankAccount
    if destination_type == "PIX":
        destination = PixDestination(_KEY_TYPES[pix_key_type], pix_key, br_code=br_code, txid=txid)
    else:
        destination = BankAccount(
            bank_ispb, bank_branch, bank_account, _ACCOUNT_TYPES[bank_account_type]
        )
    return CashOut(
        id=id_,
        internal_code=internal_code,
        client_id=client_id,
        external_reference=external_reference,
        amount=amount,
        fee=fee,
        description=description,
        webhook_url=webhook_url,
        payee=Payee(payee_name, payee_document, destination),
        status=_STATUSES[status],
        requested_at=requested_at,
        end_to_end_id=end_to_end_id,
        paid_at=paid_at,
        failure=Failure(failure_code, failure_message) if failure_code else None,
        spi_reason_code=spi_reason_code,
        submitted_at=submitted_at,
        creditor=(
            Creditor(
                creditor_name,
                creditor_document,
                creditor_ispb,
                creditor_branch,
                creditor_account,
                _ACCOUNT_TYPES[creditor_account_type],
            )
            if creditor_ispb
            else None
        ),
    )
