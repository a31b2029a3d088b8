"""The raw-SQL baseline of a bulk payout: the acceptance statements for a whole batch of
cash-outs in one transaction, each write as one multi-row statement.

Issue 19's minimal statements (``bench.rawjobs.MINIMAL``), done in bulk: the idempotency
row, one conditional update of the client's balance for the batch's total (amounts and
fees), the batch's cash-out rows in one ``INSERT``, its pending transfers (amount and fee:
two per cash-out) in another, its outbox rows (one settlement job per cash-out) in a
third, then the stored answer (every item's accepted record, as the acceptance engine
stores a batch's). No reference check, daily limit, statement lines or decision record:
the least a batch needs, so the strictest ratio. The balance is updated after the
inserts, so that concurrent batches of one account wait for each other only at the end.
``bench.rawsql`` runs it as the job ``batch`` with ``RawSpec.batch`` items per
transaction (its commits are batches).
"""

from __future__ import annotations

import secrets
import uuid
from functools import cache
from typing import TYPE_CHECKING, Any

from .rawjobs import Job, stamp

if TYPE_CHECKING:
    from .rawsql import Account, RawSpec

__all__ = ["BATCH", "batch_statements", "stored_answer"]

_CASH_OUT = (
    "INSERT INTO cash_outs (id, internal_code, client_id, external_reference, amount, fee,"
    " description, webhook_url, payee_name, payee_document, destination_type, pix_key_type,"
    " pix_key, status, requested_at, updated_at) VALUES "
)
# The constant columns are written into the statement: fewer parameters to bind.
_CASH_OUT_ROW = (
    "(%s, %s, %s, %s, 1, %s, 'User withdrawal', NULL, 'Maria Silva', '12345678909', 'PIX',"
    " 'CPF', '12345678909', 'PROCESSING', %s, %s)"
)
_TRANSFER = (
    "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount, kind, pending_id,"
    " code, ref, created_at) VALUES "
)
_TRANSFER_ROW = "(%s, %s, %s, %s, 'pending', NULL, %s, %s, %s)"
_OUTBOX = (
    "INSERT INTO outbox (topic, ref, payload, available_at, attempts, failures, created_at) VALUES "
)
_OUTBOX_ROW = "('settle_cash_out', %s, %s, %s, 0, 0, %s)"
_KEY, _RESERVE, _CASH_OUTS, _TRANSFERS, _JOBS, _ANSWER = range(6)


@cache
def batch_statements(items: int, transfers: int, sqlite: bool) -> tuple[str, ...]:
    """The batch's statements for ``items`` cash-outs of ``transfers`` transfers each."""
    statements = (
        "INSERT INTO idempotency_keys (client_id, key, fingerprint, outcome, created_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        "UPDATE accounts SET debits_pending = debits_pending + %s"
        " WHERE id = %s AND credits_posted - debits_posted - debits_pending >= %s",
        _CASH_OUT + ", ".join([_CASH_OUT_ROW] * items),
        _TRANSFER + ", ".join([_TRANSFER_ROW] * (items * transfers)),
        _OUTBOX + ", ".join([_OUTBOX_ROW] * items),
        "UPDATE idempotency_keys SET outcome = %s WHERE key = %s AND client_id = %s",
    )
    return tuple(s.replace("%s", "?") for s in statements) if sqlite else statements


@cache
def stored_answer(items: int) -> bytes:
    """A batch's stored outcome: one accepted record per item, as the engine keeps it."""
    one = (
        b'{"status":202,"cashOut":{"externalReference":"r",'
        b'"id":"00000000-0000-0000-0000-000000000000","internalCode":"ABCDEFGHIJ",'
        b'"requestedAt":"2026-03-10T17:00:00+00:00"}}'
    )
    return b'{"accepted":{"results":[' + b",".join([one] * items) + b"]}}"


def batch_transaction(
    cur: Any, _: list[str], spec: RawSpec, account: Account, key: str, sqlite: bool
) -> bool:
    """``spec.batch`` cash-outs of ``account`` accepted in one transaction."""
    now = stamp(sqlite)
    fees = [(spec.settlement_id, 1, "cash_out")]
    if spec.fee:
        fees.append((spec.fees_id, spec.fee, "cash_out_fee"))
    sql = batch_statements(spec.batch, len(fees), sqlite)
    total = spec.batch * sum(amount for _, amount, _ in fees)
    client, debit = account.client_id, account.account_id
    cur.execute(sql[_KEY], (client, key, "f" * 64, b"", now))
    ids = [str(uuid.uuid4()) for _ in range(spec.batch)]
    cash_outs: list[Any] = []
    transfers: list[Any] = []
    jobs: list[Any] = []
    for n, cash_out in enumerate(ids):
        code = secrets.token_hex(5).upper()
        cash_outs += (cash_out, code, client, f"raw-{key}-{n}", spec.fee, now, now)
        for m, (credit, amount, kind) in enumerate(fees):
            # The first transfer is the cash-out's own id, as the server's is.
            transfer = cash_out if m == 0 else str(uuid.uuid4())
            transfers += (transfer, debit, credit, amount, kind, cash_out, now)
        jobs += (cash_out, f'{{"cashOutId":"{cash_out}"}}', now, now)
    cur.execute(sql[_CASH_OUTS], cash_outs)
    cur.execute(sql[_TRANSFERS], transfers)
    cur.execute(sql[_JOBS], jobs)
    # The balance last: on PostgreSQL its row lock, which serialises the hot account's
    # batches, is then held for two statements, not for the whole batch.
    cur.execute(sql[_RESERVE], (total, debit, total))
    if cur.rowcount != 1:
        return False
    cur.execute(sql[_ANSWER], (stored_answer(spec.batch), key, client))
    return True


BATCH = Job("batch", (), batch_transaction)
