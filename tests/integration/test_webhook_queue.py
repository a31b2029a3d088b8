"""The webhook queue on SQLite and PostgreSQL: a commit's deliveries written together,
and the dispatcher's statements (due, lease, record) reading and writing times exactly
as every other statement does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from connectpsp.bootstrap import Container, build
from connectpsp.domain.cashout import (
    CashOut,
    CashOutCompleted,
    CashOutStatus,
    Payee,
    PixDestination,
)
from connectpsp.domain.pix import PixKeyType
from connectpsp.domain.webhooks import (
    Attempt,
    AttemptResult,
    DeliveryStatus,
    Endpoint,
)
from connectpsp.settings import Settings
from tests.support import FakeClock

PAYEE = Payee("Maria Silva", "12345678909", PixDestination(PixKeyType.CPF, "12345678909"))


@pytest.fixture(scope="module")
def container(db_settings: Settings) -> Iterator[Container]:
    built = build(db_settings, clock=FakeClock())
    yield built
    built.close()


def new_client(container: Container) -> str:
    return container.clients.create(f"hooks-{uuid.uuid4().hex[:8]}").client_id


def add_endpoint(container: Container, client_id: str, events: tuple[str, ...]) -> str:
    endpoint_id = str(uuid.uuid4())
    with container.uow(write=True) as uow:
        uow.webhooks.add_endpoint(
            Endpoint(
                endpoint_id,
                client_id,
                f"https://hooks.example.com/{endpoint_id}",
                events,
                "v1.not-used-here",
                None,
                None,
                True,
                container.clock.now(),
            )
        )
        uow.commit()
    return endpoint_id


def completed(client_id: str, at: datetime, n: int) -> CashOutCompleted:
    return CashOutCompleted(
        at,
        CashOut(
            id=str(uuid.uuid4()),
            internal_code=f"Q{n:09d}",
            client_id=client_id,
            external_reference=f"ref-{n}",
            amount=100,
            fee=1,
            description=None,
            webhook_url=f"https://own.example.com/{client_id}",
            payee=PAYEE,
            status=CashOutStatus.COMPLETED,
            requested_at=at,
            end_to_end_id="E00416968202603101702cemeFscF6AG",
            paid_at=at,
        ),
    )


def test_a_commit_writes_its_deliveries_together(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 events of two clients in one commit: a delivery to each event's own URL and
    to each endpoint that takes the event, with no SQLAlchemy statement per delivery or
    per event (the rows go in one insert, each client's endpoints are read once)."""
    first, second = new_client(container), new_client(container)
    wanted = add_endpoint(container, first, ("CASHOUT_COMPLETED",))
    add_endpoint(container, first, ("CASHOUT_FAILED",))  # takes none of these
    other = add_endpoint(container, second, ("CASHOUT_COMPLETED", "CASHOUT_FAILED"))
    at = container.clock.now().replace(microsecond=123_456)
    events = [completed(first if n % 2 else second, at, n) for n in range(300)]
    statements: list[str] = []

    def count(_conn: Any, statement: Any, *_: Any) -> None:
        statements.append(str(statement))

    engine = container.db.engine
    looked_up: list[str] = []
    event.listen(engine, "before_execute", count)  # before the connection is opened
    try:
        with container.uow(write=True) as uow:
            endpoints = uow.webhooks.endpoints

            def spy(client_id: str) -> list[Endpoint]:
                looked_up.append(client_id)
                return endpoints(client_id)

            monkeypatch.setattr(uow.webhooks, "endpoints", spy)
            container.publisher.publish(uow, events)
            uow.commit()
    finally:
        event.remove(engine, "before_execute", count)
    assert [s for s in statements if "webhook" in s] == []
    assert sorted(looked_up) == sorted([first, second])

    for client_id, endpoint_id in ((first, wanted), (second, other)):
        with container.uow() as uow:
            found = uow.webhooks.deliveries(client_id, None, 1000)
        assert len(found) == 300  # 150 events, each to its own URL and to one endpoint
        assert {d.endpoint_id for d in found} == {None, endpoint_id}
        assert all(d.status is DeliveryStatus.PENDING for d in found)
        # to the millisecond, as the payload's processingDate
        assert {d.next_attempt_at for d in found} == {at.replace(microsecond=123_000)}
        assert {d.event_type for d in found} == {"CASHOUT_COMPLETED"}


def test_a_delivery_queued_before_its_endpoint_is_deleted_fails_with_it(
    container: Container,
) -> None:
    client_id = new_client(container)
    endpoint_id = add_endpoint(container, client_id, ("CASHOUT_COMPLETED",))
    with container.uow(write=True) as uow:
        container.publisher.publish(uow, [completed(client_id, container.clock.now(), 1)])
        assert uow.webhooks.delete_endpoint(client_id, endpoint_id, container.clock.now())
        uow.commit()
    with container.uow() as uow:
        found = {d.endpoint_id: d.status for d in uow.webhooks.deliveries(client_id, None, 10)}
    assert found == {None: DeliveryStatus.PENDING, endpoint_id: DeliveryStatus.FAILED}


def test_the_dispatchers_times_compare_with_every_other_statements(
    container: Container,
) -> None:
    """A lease and a retry's time written by the dispatcher's statements, on a whole
    second (which a naive conversion would write in another form that sorts before
    it), are found due exactly from that moment, and read back as written."""
    client_id = new_client(container)
    start = container.clock.now().replace(microsecond=0) - timedelta(hours=1)
    with container.uow(write=True) as uow:
        container.publisher.publish(uow, [completed(client_id, start, 2)])
        uow.commit()

    def due(now: datetime) -> list[str]:
        with container.uow(write=True) as uow:
            found = uow.webhooks.due_deliveries(now=now, limit=100, skip=(), only=None)
            return [d.id for d in found if d.due_at >= start]

    (delivery_id,) = due(start)
    assert due(start - timedelta(microseconds=1)) == []
    lease_end = start + timedelta(seconds=30)
    with container.uow(write=True) as uow:
        (task,) = uow.webhooks.lease_deliveries([delivery_id], lease_until=lease_end)
        uow.commit()
    assert (task.id, task.attempts, task.endpoint_id) == (delivery_id, 0, None)
    assert task.client_secret_enc.startswith("v1.")
    assert due(lease_end - timedelta(microseconds=1)) == []  # leased
    assert due(lease_end + timedelta(microseconds=1)) == [delivery_id]

    retry_at = start + timedelta(minutes=5)
    with container.uow(write=True) as uow:
        uow.webhooks.record_attempts(
            [
                AttemptResult(
                    delivery_id,
                    Attempt(start, 500, 12, "no", None),
                    DeliveryStatus.PENDING,
                    retry_at,
                )
            ]
        )
        uow.commit()
    assert due(retry_at - timedelta(microseconds=1)) == []
    assert due(retry_at) == [delivery_id]
    with container.uow() as uow:
        (view,) = uow.webhooks.deliveries(client_id, None, 10)
    assert view.next_attempt_at == retry_at
    assert [(a.attempted_at, a.status_code) for a in view.attempts] == [(start, 500)]
