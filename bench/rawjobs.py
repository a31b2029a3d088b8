"""The raw-SQL baselines' transactions: one cash-out's writes as plain statements, one
transaction per request, on the project's own schema. Each is the least SQL its job
needs; ``bench.rawsql`` runs them.

``SERVER``: the writes ``CashOutService`` makes when it accepts a cash-out (the
acceptance engine's batch, for one request), which the server's rows are compared to:
- the idempotency row with its stored answer (``ON CONFLICT DO NOTHING RETURNING``: a
  key seen before is found by the insert, not by a read first);
- the cash-out row, whose unique ``externalReference`` is its own check;
- the reservation of amount and fee on the client's balance row, conditional on the
  balance (``adapters/storage/ledger.py``'s one ``UPDATE ... RETURNING`` per account):
  the pending debit, the statement's line count and latest line time, returning them;
- the two pending transfers, each with its statement line (number and balance after)
  on the client's side: the PSP's accounts keep no running totals, so no line;
- the daily-limit upsert, conditional on the limit;
- the decision's record (``adapters/storage/risk.py``): the client's running tally
  (upserted, returning it: the server reads it first), the decision with its checks
  and tally, and the payee as paid;
- the settlement job (the outbox).

``MINIMAL``: issue 19's baseline as it is written: "one transaction per request with
the minimal statements: the idempotency row, a conditional balance update, the cash-out
row, two ledger entries, an outbox row and the stored answer, from 16 Python threads".
No reference check, daily limit, statement lines or decision record.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connectpsp.domain.clock import business_date

if TYPE_CHECKING:
    from .rawsql import Account, RawSpec

__all__ = ["ISSUE_19_THREADS", "JOBS", "MINIMAL", "SERVER", "Job", "stamp"]

# "from 16 Python threads" (issue 19), whatever BENCH_CONCURRENCY says.
ISSUE_19_THREADS = 16
# Every bench cash-out pays this CPF (``bench.load``), written into the statements.
_CASH_OUT_COLUMNS = (
    "INSERT INTO cash_outs (id, internal_code, client_id, external_reference, amount, fee,"
    " description, webhook_url, payee_name, payee_document, destination_type, pix_key_type,"
    " pix_key, status, requested_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s,"
    " 'User withdrawal', NULL, 'Maria Silva', '12345678909', 'PIX', 'CPF', '12345678909',"
    " 'PROCESSING', %s, %s)"
)
_OUTBOX = (
    "INSERT INTO outbox (topic, ref, payload, available_at, attempts, failures, created_at)"
    " VALUES ('settle_cash_out', %s, %s, %s, 0, 0, %s)"
)
_IDEMPOTENCY = (
    "INSERT INTO idempotency_keys (client_id, key, fingerprint, outcome, created_at)"
    " VALUES (%s, %s, %s, %s, %s)"
)
# The stored outcome, as the acceptance engine stores a cash-out's (the 202's data).
_RESPONSE = (
    b'{"accepted":{"externalReference":"r","id":"00000000-0000-0000-0000-000000000000",'
    b'"internalCode":"ABCDEFGHIJ","requestedAt":"2026-03-10T17:00:00+00:00"}}'
)
# The checks a decision keeps when the client has no rules of its own (domain.risk).
_CHECKS = (
    '[{"rule":"fraud_markers","passed":true,'
    '"inputs":{"keyMarked":false,"ownerMarked":false,"payeeMarked":false}}]'
)

_SERVER_STATEMENTS = (
    _IDEMPOTENCY + " ON CONFLICT (key, client_id) DO NOTHING RETURNING key",
    _CASH_OUT_COLUMNS + " ON CONFLICT (external_reference, client_id) DO NOTHING RETURNING id",
    "UPDATE accounts SET debits_pending = debits_pending + %s, movements = movements + %s,"
    " last_movement_at = CASE WHEN last_movement_at > %s THEN last_movement_at ELSE %s END"
    " WHERE id = %s AND credits_posted - debits_posted - debits_pending >= %s"
    " RETURNING movements, credits_posted - debits_posted - debits_pending, last_movement_at",
    "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount, kind, pending_id,"
    " code, ref, created_at, debit_seq, debit_after, credit_seq, credit_after)"
    " VALUES (%s, %s, %s, %s, 'pending', NULL, %s, %s, %s, %s, %s, NULL, NULL)",
    "INSERT INTO daily_usage (client_id, day, amount) VALUES (%s, %s, %s)"
    " ON CONFLICT (client_id, day) DO UPDATE SET amount = daily_usage.amount + excluded.amount"
    " WHERE daily_usage.amount + excluded.amount <= %s RETURNING amount",
    "INSERT INTO risk_totals (client_id, decided, accepted) VALUES (%s, 1, %s)"
    " ON CONFLICT (client_id) DO UPDATE SET decided = risk_totals.decided + 1,"
    " accepted = risk_totals.accepted + excluded.accepted RETURNING decided, accepted",
    "INSERT INTO risk_decisions (id, client_id, at, decisions, decided_total, accepted_total)"
    " VALUES (%s, %s, %s, %s, %s, %s)",
    "INSERT INTO client_payees (client_id, payee, first_paid_at)"
    " VALUES (%s, '12345678909', %s) ON CONFLICT (payee, client_id) DO NOTHING",
    _OUTBOX,
)
_KEY, _CASH_OUT, _RESERVE, _TRANSFER, _DAILY, _TALLY, _DECISION, _PAYEE, _JOB = range(9)

_MINIMAL_STATEMENTS = (
    _IDEMPOTENCY,
    "UPDATE accounts SET debits_pending = debits_pending + %s"
    " WHERE id = %s AND credits_posted - debits_posted - debits_pending >= %s",
    _CASH_OUT_COLUMNS,
    "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount, kind, pending_id,"
    " code, ref, created_at) VALUES (%s, %s, %s, %s, 'pending', NULL, %s, %s, %s)",
    _OUTBOX,
    "UPDATE idempotency_keys SET outcome = %s WHERE key = %s AND client_id = %s",
)
_M_KEY, _M_RESERVE, _M_CASH_OUT, _M_TRANSFERS, _M_JOB, _M_ANSWER = range(6)


def stamp(sqlite: bool) -> Any:
    now = datetime.now(UTC)
    # SQLAlchemy stores SQLite datetimes as naive UTC text; match it.
    return f"{now.replace(tzinfo=None):%Y-%m-%d %H:%M:%S.%f}" if sqlite else now


def _transfers(spec: RawSpec, cash_out: str) -> list[tuple[str, int, int, str]]:
    """(id, credit account, amount, code) of a cash-out's pending transfers."""
    found = [(cash_out, spec.settlement_id, 1, "cash_out")]
    if spec.fee:
        found.append((str(uuid.uuid4()), spec.fees_id, spec.fee, "cash_out_fee"))
    return found


def _cash_out_row(
    cash_out: str, account: Account, reference: str, fee: int, now: Any
) -> tuple[Any, ...]:
    return (cash_out, secrets.token_hex(5).upper(), account.client_id, reference, 1, fee, now, now)


def server_transaction(
    cur: Any, sql: list[str], spec: RawSpec, account: Account, key: str, sqlite: bool
) -> bool:
    """The server's writes for one accepted cash-out; False when the transaction must
    roll back (nothing in the bench makes it)."""
    now = stamp(sqlite)
    cash_out = str(uuid.uuid4())
    cur.execute(sql[_KEY], (account.client_id, key, "f" * 64, _RESPONSE, now))
    if cur.fetchone() is None:
        return False
    cur.execute(sql[_CASH_OUT], _cash_out_row(cash_out, account, f"raw-{key}", spec.fee, now))
    if cur.fetchone() is None:
        return False
    transfers = _transfers(spec, cash_out)
    total = sum(amount for _, _, amount, _ in transfers)
    cur.execute(sql[_RESERVE], (total, len(transfers), now, now, account.account_id, total))
    reserved = cur.fetchone()
    if reserved is None:
        return False
    movements, available, last = reserved
    # Each transfer's line on the client's side, numbered on from the lines before.
    seq, after = movements - len(transfers), available + total
    rows = []
    for transfer, credit, amount, code in transfers:
        seq, after = seq + 1, after - amount
        rows.append(
            (transfer, account.account_id, credit, amount, code, cash_out, last, seq, after)
        )
    cur.executemany(sql[_TRANSFER], rows)
    day = business_date(datetime.now(UTC)).isoformat()
    cur.execute(sql[_DAILY], (account.client_id, day, 1, 10**15))
    if cur.fetchone() is None:
        return False
    cur.execute(sql[_TALLY], (account.client_id, 1))
    decided, accepted = cur.fetchone()
    decision = str(uuid.uuid4())
    entry = (
        f'{{"id":"{decision}","cashOutId":"{cash_out}","amount":1,"payee":"12345678909",'
        f'"code":null,"checks":{_CHECKS}}}'
    )
    cur.execute(sql[_DECISION], (decision, account.client_id, now, f"[{entry}]", decided, accepted))
    cur.execute(sql[_PAYEE], (account.client_id, now))
    cur.execute(sql[_JOB], (cash_out, f'{{"cashOutId":"{cash_out}"}}', now, now))
    return True


def minimal_transaction(
    cur: Any, sql: list[str], spec: RawSpec, account: Account, key: str, sqlite: bool
) -> bool:
    """Issue 19's statements for one cash-out, in its order."""
    now = stamp(sqlite)
    cash_out = str(uuid.uuid4())
    cur.execute(sql[_M_KEY], (account.client_id, key, "f" * 64, b"", now))
    transfers = _transfers(spec, cash_out)
    total = sum(amount for _, _, amount, _ in transfers)
    cur.execute(sql[_M_RESERVE], (total, account.account_id, total))
    if cur.rowcount != 1:
        return False
    cur.execute(sql[_M_CASH_OUT], _cash_out_row(cash_out, account, f"raw-{key}", spec.fee, now))
    cur.executemany(
        sql[_M_TRANSFERS],
        [
            (transfer, account.account_id, credit, amount, code, cash_out, now)
            for transfer, credit, amount, code in transfers
        ],
    )
    cur.execute(sql[_M_JOB], (cash_out, f'{{"cashOutId":"{cash_out}"}}', now, now))
    cur.execute(sql[_M_ANSWER], (_RESPONSE, key, account.client_id))
    return True


@dataclass(frozen=True)
class Job:
    name: str
    statements: tuple[str, ...]  # with %s marks (psycopg's); rawsql turns them into ?
    run: Callable[[Any, list[str], RawSpec, Account, str, bool], bool]


SERVER = Job("server", _SERVER_STATEMENTS, server_transaction)
MINIMAL = Job("minimal", _MINIMAL_STATEMENTS, minimal_transaction)
JOBS = {job.name: job for job in (SERVER, MINIMAL)}
