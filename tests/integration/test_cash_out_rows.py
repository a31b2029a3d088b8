"""A cash-out reads back as it was written, every field, by every reader of cash-out rows.

``storage.cashouts._cash_out`` takes a row's columns by their places in the table, not by
name (a page of a hundred cash-outs spent most of its time naming columns): a column
taken from the wrong place would hand one field another's value, which only a cash-out
whose every field differs from every other shows."""

from __future__ import annotations

import uuid
from datetime import timedelta

from connectpsp.bootstrap import Container
from connectpsp.domain.cashout import (
    BankAccount,
    CashOut,
    CashOutStatus,
    Creditor,
    Failure,
    Payee,
    PixDestination,
)
from connectpsp.domain.cashout_search import CashOutQuery
from connectpsp.domain.listing import Filters
from connectpsp.domain.pix import AccountType, PixKeyType
from tests.integration.test_settlement import accept_many


def _written(container: Container, client_id: str) -> list[CashOut]:
    now = container.clock.now()
    paid_by_code = CashOut(
        id=str(uuid.uuid4()),
        internal_code=uuid.uuid4().hex[:10].upper(),
        client_id=client_id,
        external_reference=f"ref-{uuid.uuid4().hex[:8]}",
        amount=12_34,
        fee=56,
        description="rent for March",
        webhook_url="https://hooks.example/cash-outs",
        payee=Payee(
            "Maria Silva",
            "12345678909",
            PixDestination(
                PixKeyType.EMAIL, "maria@example.com", br_code="000201...6304ABCD", txid="tx42"
            ),
        ),
        status=CashOutStatus.PROCESSING,
        requested_at=now - timedelta(seconds=7, microseconds=123_456),
    )
    to_account = CashOut(
        id=str(uuid.uuid4()),
        internal_code=uuid.uuid4().hex[:10].upper(),
        client_id=client_id,
        external_reference=f"ref-{uuid.uuid4().hex[:8]}",
        amount=98_76,
        fee=54,
        description=None,
        webhook_url=None,
        payee=Payee(
            "Joao Souza",
            "11144477735",
            BankAccount("60701190", "0102", "12345-6", AccountType.SAVINGS),
        ),
        status=CashOutStatus.PROCESSING,
        requested_at=now - timedelta(seconds=3, microseconds=654_321),
    )
    creditor = Creditor(
        "Maria S.", "12345678909", "18236120", "0001", "947710840", AccountType.PAYMENT
    )
    other = Creditor("Joao S.", "11144477735", "60701190", "0102", "123456", AccountType.CHECKING)
    submitted = [
        paid_by_code.submit(creditor, now - timedelta(seconds=2)),
        to_account.submit(other, now - timedelta(seconds=1)),
    ]
    done = [
        submitted[0].complete("E00416968202603101827abcdefghij", now - timedelta(microseconds=5)),
        submitted[1].fail(Failure("ACCOUNT_CLOSED", "The payee's account is closed."), "AC03"),
    ]
    with container.uow(write=True) as uow:
        uow.cash_outs.add([paid_by_code, to_account])
        assert uow.cash_outs.mark_submitted_many(submitted, now) == {c.id for c in submitted}
        # Each keeps its own submitted_at: mark_submitted_many binds the cash-out's.
        assert uow.cash_outs.finish_many(done, at=now) == {c.id for c in done}
        uow.commit()
    return done


def test_every_reader_gives_back_every_field(container: Container) -> None:
    client_id, [accepted] = accept_many(container, 1)
    client = container.clients.get(client_id)
    written = _written(container, client_id)
    with container.uow() as uow:
        by_ids = uow.cash_outs.by_ids([c.id for c in written])
        for expected in written:
            assert by_ids[expected.id] == expected
            assert uow.cash_outs.by_id(expected.id) == expected
            assert uow.cash_outs.get(client.id, expected.internal_code) == expected
            found = uow.cash_outs.by_external_reference(client.id, expected.external_reference)
            assert found == expected
    completed = written[0]
    assert completed.end_to_end_id is not None
    with container.uow() as uow:
        assert uow.cash_outs.by_end_to_end_id(completed.end_to_end_id) == completed
    for expected in written:
        timeline = container.console_reads.timeline(expected.id)
        assert timeline is not None and timeline.cash_out == expected
        query = CashOutQuery(internal_code=expected.internal_code)
        assert container.console_reads.search(query, None, 10) == [expected]
    # The list selects more than the cash-out's columns (its statement line's), after
    # them; it lists what has its reservation in the ledger, as an accepted one has.
    with container.uow() as uow:
        alone = uow.cash_outs.by_id(accepted)
    page = container.listings.cash_outs(client, Filters(), None, 10)
    assert [item.cash_out for item in page.items] == [alone]
