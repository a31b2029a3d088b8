"""Bulk payouts over in-memory fakes: a batch is one request of the cash-out flow, its
items decided in order against the state single cash-outs share, stored and replayed
under one key, and failed whole (nothing written) by an error that is no item's."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectpsp.domain.cashout import AcceptedCashOut, CashOutRequest
from connectpsp.domain.cashout_batch import BatchResult, CashOutBatch, ItemRefused, canonical_item
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import (
    FieldError,
    IdempotencyKeyMismatch,
    LedgerViolation,
    ValidationFailed,
)
from connectpsp.domain.ledger import client_account_code
from connectpsp.domain.risk import Screening
from connectpsp.service.acceptance import Accepted, Decided, Submission
from connectpsp.service.batch import BatchContext, CashOutBatches
from connectpsp.service.cashouts import CashOutFlow
from connectpsp.settings import Settings
from tests.fakes import Services, fake_services, one_batch, request

BAD = ItemRefused.of(ValidationFailed([FieldError("items[1].amount", "is required")]))


@pytest.fixture
def s() -> Iterator[Services]:
    with fake_services() as services:
        yield services


def batches(s: Services) -> CashOutBatches:
    return CashOutBatches(s.engine, s.cash_outs)


def submit(
    s: Services, client: Client, key: str, items: list[CashOutRequest | ItemRefused]
) -> Future[Decided[BatchResult]]:
    """A batch as the API submits it: its fingerprint from what was "sent" (here each
    item's repr), its parsed items and their screenings as the context."""
    batch = CashOutBatch(tuple(canonical_item(repr(item)) for item in items))
    context = BatchContext(tuple(items), tuple(batches(s).screen(items)))
    return batches(s).submit(client, key, batch, context)


def outcome(decided: Decided[BatchResult]) -> list[str]:
    assert isinstance(decided.outcome, Accepted)
    return [
        "accepted" if isinstance(item, AcceptedCashOut) else item.code
        for item in decided.outcome.result.items
    ]


def test_items_are_decided_in_order_each_as_a_single_cash_out(s: Services) -> None:
    payer = s.client(funds=100_00, fee=1_00)
    items: list[CashOutRequest | ItemRefused] = [
        request(40_00, "a"),
        BAD,
        request(40_00, "a"),  # the item before took the reference
        request(60_00, "b"),  # 41 + 61 > 100
        request(50_00, "c"),
    ]
    decided = submit(s, payer, "k", items).result()
    assert outcome(decided) == [
        "accepted",
        "VALIDATION_ERROR",
        "DUPLICATE_EXTERNAL_REFERENCE",
        "INSUFFICIENT_BALANCE",
        "accepted",
    ]
    assert isinstance(decided.outcome, Accepted)
    result = decided.outcome.result
    assert result.items[1] == BAD
    first = result.items[0]
    assert isinstance(first, AcceptedCashOut)
    # The reference's holder in the batch is named, as a single cash-out's 409 names it.
    assert result.items[2] == ItemRefused(
        "DUPLICATE_EXTERNAL_REFERENCE",
        f"A cash-out with this externalReference already exists: internalCode "
        f"{first.internal_code}.",
        {"internalCode": first.internal_code},
    )
    balance = s.clients.balance(payer.id)
    assert (balance.available, balance.reserved) == (100_00 - 41_00 - 51_00, 92_00)
    t = s.db.committed
    assert sorted(c.external_reference for c in t.cash_outs.values()) == ["a", "c"]
    assert len(t.jobs) == 2  # each accepted item's settlement job, in the same commit
    # Every item that reached the checks is a decision the fraud rules count; the
    # malformed one never did (as a 400 never does).
    assert len(t.decisions) == 4
    assert s.wakes == ["settle"]


def test_a_replay_restores_the_stored_answer_and_another_batch_is_a_mismatch(
    s: Services,
) -> None:
    payer = s.client(funds=10_00)
    items: list[CashOutRequest | ItemRefused] = [request(5_00, "a"), request(9_00, "b")]
    first = submit(s, payer, "k", items).result()
    again = submit(s, payer, "k", items).result()
    assert (first.replayed, again.replayed) == (False, True)
    assert isinstance(first.outcome, Accepted) and isinstance(again.outcome, Accepted)
    assert again.outcome.result == first.outcome.result
    assert len(s.db.committed.cash_outs) == 1
    with pytest.raises(IdempotencyKeyMismatch):
        submit(s, payer, "k", items[:1]).result()
    # A single cash-out's key is not a batch's, nor the other way round.
    with pytest.raises(IdempotencyKeyMismatch):
        s.cash_outs.create(payer, "k", items[0])  # type: ignore[arg-type]


def test_a_batch_and_single_cash_outs_in_one_transaction_share_one_balance(
    s: Services,
) -> None:
    payer = s.client(funds=100_00)
    with one_batch(s.engine, s.db, payer):
        before = s.cash_outs.submit(payer, "single-1", request(30_00))
        batch = submit(s, payer, "batch", [request(30_00), request(30_00), request(30_00)])
        after = s.cash_outs.submit(payer, "single-2", request(10_00))
    assert isinstance(before.result().outcome, Accepted)
    assert outcome(batch.result()) == ["accepted", "accepted", "INSUFFICIENT_BALANCE"]
    assert isinstance(after.result().outcome, Accepted)
    assert s.clients.balance(payer.id).available == 0
    with s.db() as uow:
        code = client_account_code(payer.id)
        assert uow.ledger.balance(code) == uow.ledger.summed_balance(code)


def test_an_error_no_item_is_made_of_fails_the_batch_whole(
    s: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    payer = s.client(funds=100_00)
    decide_one = CashOutFlow._decide_one

    def broken(
        flow: CashOutFlow, state: Any, submission: Submission[CashOutRequest], now: datetime
    ) -> AcceptedCashOut:
        if submission.command.external_reference == "broken":
            raise LedgerViolation("A transfer resolves more than was pending.")
        return decide_one(flow, state, submission, now)

    monkeypatch.setattr(CashOutFlow, "_decide_one", broken)
    with one_batch(s.engine, s.db, payer):
        single = s.cash_outs.submit(payer, "single", request(10_00))
        failed = submit(s, payer, "k", [request(10_00, "fine"), request(10_00, "broken")])
    with pytest.raises(LedgerViolation):
        failed.result()
    # Decided alone after the rollback: the single cash-out is accepted all the same,
    # and of the batch nothing is written, not even its first item, and no key is kept.
    assert isinstance(single.result().outcome, Accepted)
    t = s.db.committed
    assert "fine" not in {c.external_reference for c in t.cash_outs.values()}
    assert len(t.cash_outs) == 1 and s.clients.balance(payer.id).reserved == 10_00
    monkeypatch.setattr(CashOutFlow, "_decide_one", decide_one)
    retried = submit(s, payer, "k", [request(10_00, "fine"), request(10_00, "broken")])
    assert outcome(retried.result()) == ["accepted", "accepted"]


def test_screenings_reach_each_item(s: Services) -> None:
    items: list[CashOutRequest | ItemRefused] = [request(1_00), BAD, request(1_00)]
    assert batches(s).screen(items) == [Screening(), None, Screening()]


def test_a_batch_answer_is_stored_as_data_and_restored_equal() -> None:
    accepted = AcceptedCashOut(
        "id", "ABCDEFGHIJ", "ref", datetime.fromisoformat("2026-03-10T12:00:00+00:00")
    )
    result = BatchResult((accepted, BAD))
    record = CashOutFlow(lambda: None).record(result)
    assert CashOutFlow(lambda: None).restore(record) == result
    assert result.accepted == [accepted]


def test_an_items_fingerprint_is_what_was_sent_in_any_key_order() -> None:
    assert canonical_item({"a": 1, "b": Decimal("1.0")}) == canonical_item(
        {"b": Decimal("1.0"), "a": 1}
    )
    assert canonical_item({"amount": Decimal("10.00")}) != canonical_item({"amount": "10.00"})
    assert canonical_item({"amount": Decimal("10.00")}) != canonical_item(
        {"amount": Decimal("10.0")}
    )


def test_a_context_must_match_its_batch(s: Services) -> None:
    payer = s.client(funds=1_00)
    with pytest.raises(ValueError):
        batches(s).submit(
            payer, "k", CashOutBatch(("{}",)), BatchContext((request(1_00), BAD), (None, None))
        )


def test_the_batch_body_cap_comes_from_the_environment(tmp_path: Path) -> None:
    default = Settings.from_env({"CONNECTPSP_VAR_DIR": str(tmp_path)})
    assert (default.max_body_bytes, default.max_batch_body_bytes) == (64 * 1024, 1024 * 1024)
    changed = Settings.from_env(
        {"CONNECTPSP_VAR_DIR": str(tmp_path), "CONNECTPSP_MAX_BATCH_BODY_BYTES": "2097152"}
    )
    assert changed.max_batch_body_bytes == 2 * 1024 * 1024
