"""Webhooks over in-memory fakes, in milliseconds: the publisher (each event in its two
shapes, a delivery for each receiver that wants it, in the transaction that made it
happen) and managing endpoints (registering and rotating through the acceptance engine,
deleting, retrying and replaying deliveries). Sending them is the dispatcher's, tested
against real receivers: tests/e2e/test_webhooks.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from connectpsp.domain.cashout import CashOutRequest
from connectpsp.domain.errors import EndpointDisabled, NotFound, ValidationFailed
from connectpsp.domain.webhooks import (
    DeliveryStatus,
    EndpointCreated,
    MessageShape,
    SecretRotated,
)
from connectpsp.service.acceptance import Accepted
from connectpsp.service.endpoints import SECRET_OVERLAP, endpoint_secret_context
from connectpsp.service.rail import RailState, RailStatus
from tests.fakes import PAYEE, Services, fake_services, one_batch

COMPLETED, FAILED = "CASHOUT_COMPLETED", "CASHOUT_FAILED"


@pytest.fixture
def s() -> Iterator[Services]:
    with fake_services() as services:
        yield services


def register(s: Services, owner: Any, url: str, events: list[str] | None = None) -> str:
    decided = s.endpoints.create_endpoint(owner, url, events).result(5)
    assert isinstance(decided.outcome, Accepted)
    return decided.outcome.result.id


def settle_one(s: Services, owner: Any, *, webhook_url: str | None, rejected: bool) -> str:
    """Accept a cash-out of 10.00 and settle it (or have SPI reject it): its id."""
    body = CashOutRequest(10_00, f"r-{uuid.uuid4().hex[:8]}", None, webhook_url, PAYEE)
    decided = s.cash_outs.create(owner, str(uuid.uuid4()), body)
    assert isinstance(decided.outcome, Accepted)
    if rejected:
        s.rail.spi = lambda order: RailStatus(RailState.REJECTED, order.end_to_end_id, None, "AC03")
    s.settlement.run_due()
    return decided.outcome.result.id


@pytest.mark.parametrize("rejected", [False, True], ids=[COMPLETED, FAILED])
def test_an_event_renders_its_two_shapes_for_those_who_want_it(s: Services, rejected: bool) -> None:
    owner, stranger = s.client(funds=100_00, fee=50), s.client()
    everything = register(s, owner, "https://hooks.example/all")
    failures_only = register(s, owner, "https://hooks.example/failed", [FAILED])
    gone = register(s, owner, "https://hooks.example/gone")
    s.endpoints.delete_endpoint(owner, gone)
    disabled = register(s, owner, "https://hooks.example/410")
    with s.db(write=True) as uow:
        uow.webhooks.disable_endpoint(disabled, "answered 410 Gone", s.clock.now())
        uow.commit()
    register(s, stranger, "https://hooks.example/stranger")
    s.clock.advance(seconds=1.234567)  # payloads state time to the millisecond
    cash_out_id = settle_one(s, owner, webhook_url="https://shop.example/own", rejected=rejected)
    t = s.db.committed
    messages = {m.shape: m for m in t.messages.values()}
    assert len(messages) == len(t.messages) == 2
    assert {(m.subject_kind, m.subject_id, m.client_id) for m in messages.values()} == {
        ("cash_out", cash_out_id, owner.id)
    }
    assert {m.event_type for m in messages.values()} == {FAILED if rejected else COMPLETED}
    assert {m.created_at for m in messages.values()} == {s.clock.now().replace(microsecond=234000)}
    own = json.loads(messages[MessageShape.CASH_OUT].body)
    movement = json.loads(messages[MessageShape.MOVEMENT].body)
    assert (own["eventType"], own["data"]["status"]) == (
        (FAILED, "FAILED") if rejected else (COMPLETED, "COMPLETED")
    )
    assert own["data"]["payee"]["document"] == "***.456.789-**"
    assert (movement["event"], movement["status"], movement["movementType"]) == (
        "CashOut",
        "ERROR" if rejected else "CONFIRMED",
        "DEBIT",
    )
    assert (movement["transactionId"], movement["feeAmount"], movement["finalAmount"]) == (
        cash_out_id,
        0.5,
        10.5,
    )
    assert movement["processingDate"] == "2026-03-10T15:00:01.234Z"
    assert movement["errorCode"] == ("INVALID_ACCOUNT" if rejected else None)
    assert movement["counterpart"]["bank"]["bankName"] == "NU PAGAMENTOS - IP"
    assert movement["counterpart"]["document"] == "***.456.789-**"
    receivers = {
        (d.url, d.endpoint_id, t.messages[d.message_id].shape) for d in t.deliveries.values()
    }
    wanted = {everything, failures_only} if rejected else {everything}
    assert receivers == {("https://shop.example/own", None, MessageShape.CASH_OUT)} | {
        (t.endpoints[e].endpoint.url, e, MessageShape.MOVEMENT) for e in wanted
    }
    assert s.wakes.count("deliver") == 1  # the dispatcher is told once


def test_an_event_nobody_wants_is_kept_for_replays_and_queues_nothing(s: Services) -> None:
    owner = s.client(funds=100_00)
    register(s, owner, "https://hooks.example/failed", [FAILED])
    settle_one(s, owner, webhook_url=None, rejected=False)
    t = s.db.committed
    assert [m.shape for m in t.messages.values()] == [MessageShape.MOVEMENT]
    assert t.deliveries == {} and "deliver" not in s.wakes


def test_events_of_a_transaction_that_is_not_committed_are_not_published(s: Services) -> None:
    owner = s.client(funds=100_00)
    settle_one(s, owner, webhook_url="https://shop.example/own", rejected=False)
    (event,) = s.db.published
    before = s.db.committed
    with s.db(write=True) as uow:
        uow.emit(event)  # and then the transaction fails
    assert s.db.committed is before and s.db.published == [event]


def test_the_event_types_are_those_with_a_movement_shape(s: Services) -> None:
    assert s.publisher.event_types == (COMPLETED, FAILED)


@pytest.mark.parametrize(
    ("url", "events", "field"),
    [
        ("ftp://hooks.example/x", None, "url"),
        ("hooks.example/x", None, "url"),
        ("https://hooks.example/" + "x" * 2048, None, "url"),
        ("https://internal.example/x", None, "url"),  # the guard refuses where it resolves
        ("https://hooks.example/x", ["CASHOUT_EXPLODED"], "events"),
    ],
)
def test_a_bad_registration_is_refused_before_it_is_queued(
    s: Services, url: str, events: list[str] | None, field: str
) -> None:
    owner = s.client()
    before = s.db.write_transactions
    with pytest.raises(ValidationFailed) as refused:
        s.endpoints.create_endpoint(owner, url, events, "k")
    assert [e.field for e in refused.value.errors] == [field]
    assert s.db.write_transactions == before  # the engine never saw it


def test_an_endpoint_subscribes_to_every_event_by_default_and_each_once(s: Services) -> None:
    owner = s.client()
    by_default = register(s, owner, "https://hooks.example/a")
    chosen = register(s, owner, "https://hooks.example/b", [FAILED, FAILED])
    endpoints = {e.id: e for e in s.endpoints.endpoints(owner)}
    assert endpoints[by_default].events == (COMPLETED, FAILED)
    assert endpoints[chosen].events == (FAILED,)


def test_an_endpoint_secret_is_kept_encrypted_for_that_endpoint(s: Services) -> None:
    owner = s.client()
    decided = s.endpoints.create_endpoint(owner, "https://hooks.example/a", None).result(5)
    assert isinstance(decided.outcome, Accepted)
    created: EndpointCreated = decided.outcome.result
    assert created.secret.startswith("whsec_") and created.created_at == s.clock.now()
    stored = s.db.committed.endpoints[created.id].endpoint
    assert created.secret not in stored.secret_enc
    context = endpoint_secret_context(created.id)
    assert s.cipher.decrypt(stored.secret_enc, context=context) == created.secret
    assert s.db.committed.idempotency == {}  # no key given: nothing kept to replay


def rotated(s: Services, future: Any) -> SecretRotated:
    decided = future.result(5)
    assert isinstance(decided.outcome, Accepted)
    result: SecretRotated = decided.outcome.result
    return result


def test_rotation_keeps_the_old_secret_signing_for_the_overlap(s: Services) -> None:
    owner = s.client()
    endpoint_id = register(s, owner, "https://hooks.example/a")
    context = endpoint_secret_context(endpoint_id)
    first = s.db.committed.endpoints[endpoint_id].endpoint.secret_enc
    new = rotated(s, s.endpoints.rotate_secret(owner, endpoint_id))
    assert new.previous_secret_expires_at == s.clock.now() + SECRET_OVERLAP
    row = s.db.committed.endpoints[endpoint_id].endpoint
    assert s.cipher.decrypt(row.secret_enc, context=context) == new.secret
    assert row.previous_secret_enc == first
    # Two rotations decided together: the second keeps the first's secret as previous.
    with one_batch(s.engine, s.db, owner):
        futures = [s.endpoints.rotate_secret(owner, endpoint_id, f"r-{n}") for n in range(2)]
    one, two = (rotated(s, f) for f in futures)
    row = s.db.committed.endpoints[endpoint_id].endpoint
    assert s.cipher.decrypt(row.secret_enc, context=context) == two.secret
    assert row.previous_secret_enc is not None
    assert s.cipher.decrypt(row.previous_secret_enc, context=context) == one.secret


def test_a_client_manages_its_own_endpoints_only(s: Services) -> None:
    owner, stranger = s.client(), s.client()
    endpoint_id = register(s, owner, "https://hooks.example/a")
    with pytest.raises(NotFound):
        s.endpoints.rotate_secret(stranger, endpoint_id).result(5)
    with pytest.raises(NotFound):
        s.endpoints.delete_endpoint(stranger, endpoint_id)
    with pytest.raises(NotFound):
        s.endpoints.replay(stranger, endpoint_id, s.clock.now(), s.clock.now())
    assert s.endpoints.endpoints(stranger) == []
    assert [e.id for e in s.endpoints.endpoints(owner)] == [endpoint_id]


def test_deleting_an_endpoint_fails_what_was_queued_for_it(s: Services) -> None:
    owner = s.client(funds=100_00)
    endpoint_id = register(s, owner, "https://hooks.example/a")
    settle_one(s, owner, webhook_url="https://shop.example/own", rejected=False)
    s.endpoints.delete_endpoint(owner, endpoint_id)
    statuses = {d.endpoint_id: d.status for d in s.endpoints.deliveries(owner, None)}
    assert statuses == {endpoint_id: DeliveryStatus.FAILED, None: DeliveryStatus.PENDING}
    assert s.endpoints.endpoints(owner) == []
    with pytest.raises(NotFound):
        s.endpoints.delete_endpoint(owner, endpoint_id)  # once


def test_a_retry_makes_a_delivery_due_now_unless_its_endpoint_is_gone(s: Services) -> None:
    owner = s.client(funds=100_00)
    endpoint_id = register(s, owner, "https://hooks.example/a")
    settle_one(s, owner, webhook_url=None, rejected=False)
    (delivery,) = s.endpoints.deliveries(owner, DeliveryStatus.PENDING)
    with pytest.raises(NotFound):
        s.endpoints.retry(owner, "no-such-delivery")
    with pytest.raises(NotFound):
        s.endpoints.retry(s.client(), delivery.id)  # not the stranger's
    s.clock.advance(hours=1)
    s.endpoints.retry(owner, delivery.id)
    (again,) = s.endpoints.deliveries(owner, None)
    assert (again.status, again.next_attempt_at) == (DeliveryStatus.PENDING, s.clock.now())
    assert s.wakes[-1] == "deliver"
    with s.db(write=True) as uow:
        uow.webhooks.disable_endpoint(endpoint_id, "answered 410 Gone", s.clock.now())
        uow.commit()
    with pytest.raises(EndpointDisabled):
        s.endpoints.retry(owner, delivery.id)


def test_a_replay_sends_again_the_window_of_events_the_endpoint_wants(s: Services) -> None:
    owner = s.client(funds=100_00)
    start = s.clock.now()
    for rejected in (False, True, False):
        settle_one(s, owner, webhook_url=None, rejected=rejected)
        s.clock.advance(minutes=1)
    failed_only = register(s, owner, "https://hooks.example/failed", [FAILED])
    everything = register(s, owner, "https://hooks.example/all")
    assert s.db.committed.deliveries == {}  # registered after the events
    window = (start, start + timedelta(minutes=2))  # the first two events: [since, until)
    assert s.endpoints.replay(owner, failed_only, *window) == 1
    assert s.endpoints.replay(owner, everything, *window) == 2
    assert s.endpoints.replay(owner, everything, start + timedelta(minutes=3), s.clock.now()) == 0
    t = s.db.committed
    sent = sorted(
        (d.endpoint_id == everything, t.messages[d.message_id].event_type)
        for d in t.deliveries.values()
    )
    assert sent == [(False, FAILED), (True, COMPLETED), (True, FAILED)]
    with s.db(write=True) as uow:
        uow.webhooks.disable_endpoint(everything, "answered 410 Gone", s.clock.now())
        uow.commit()
    with pytest.raises(EndpointDisabled):
        s.endpoints.replay(owner, everything, *window)


def test_a_cash_out_webhook_url_at_a_forbidden_address_is_refused_at_once(s: Services) -> None:
    s.endpoints.check_cash_out_url("https://shop.example/own")
    with pytest.raises(ValidationFailed) as refused:
        s.endpoints.check_cash_out_url("https://internal.example/own")
    assert [e.field for e in refused.value.errors] == ["webhookUrl"]
