"""The simulated DICT's security information, on SQLite and PostgreSQL: fraud markers
counted over their periods, removed, seen on a key and on its owner; settlements
received; MED infraction reports against our clients' receipts; blocked accounts; the
magic values the sandbox starts with; and the cache the checks read through, emptied by
every sandbox change and every MED report and decision."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from connectpsp.adapters.rails.simulated_security import (
    DEMO_MARKERS,
    EVERY_KEY_MARKED,
    MARKED_KEYS,
    MULE,
    SimulatedDictSecurity,
)
from connectpsp.adapters.storage import schema as t
from connectpsp.bootstrap import Container
from connectpsp.domain.cashout import Creditor
from connectpsp.domain.errors import NotFound
from connectpsp.domain.ids import end_to_end_id
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.domain.spi import ReasonCode
from connectpsp.service.rail import PaymentOrder, RailState
from connectpsp.service.security import (
    FraudType,
    InfractionReports,
    KeySecurity,
    Periods,
    key_type_of,
)
from tests.support import FakeClock

ISPB = "00416968"


def new_cpf() -> str:
    digits = [random.randrange(10) for _ in range(9)]
    for weights in (range(10, 1, -1), range(11, 1, -1)):
        remainder = sum(d * w for d, w in zip(digits, weights, strict=False)) % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return "".join(map(str, digits))


def new_owner() -> Creditor:
    account = str(random.randrange(10**8, 10**9))
    return Creditor("Ana Costa", new_cpf(), "18236120", "0001", account, AccountType.PAYMENT)


def new_key(container: Container, owner: Creditor, reject_with: ReasonCode | None = None) -> str:
    key = f"k{uuid.uuid4().hex[:12]}@example.com"
    container.network.register(PixKeyType.EMAIL, key, owner, reject_with)
    return key


@pytest.fixture(scope="module")
def dict_(container: Container) -> SimulatedDictSecurity:
    """The simulated DICT itself, without the cache."""
    return SimulatedDictSecurity(container.network, container.db, clock=container.clock)


@pytest.fixture
def clock(container: Container) -> Iterator[FakeClock]:
    """The container's clock, put back where it was after the test."""
    clock = container.clock
    assert isinstance(clock, FakeClock)
    before = clock.offset
    yield clock
    clock.offset = before


def key_info(dict_: SimulatedDictSecurity, key: str) -> KeySecurity:
    found = dict_.key_security(key_type_of(key), key)
    assert found is not None, key
    return found


def test_markers_count_in_the_periods_they_were_created_in(
    dict_: SimulatedDictSecurity, clock: FakeClock
) -> None:
    document = new_cpf()
    dict_.add_marker(FraudType.SCAMMER_ACCOUNT, document=document)
    clock.advance(days=100)
    dict_.add_marker(FraudType.SCAMMER_ACCOUNT, document=document)
    dict_.add_marker(FraudType.APPLICATION_FRAUD, document=document)
    now = dict_.owner_security(document)
    markers = now.fraud_markers
    assert markers.scammer_accounts == Periods(d90=1, m12=2, m60=2)
    assert markers.application_frauds == Periods(1, 1, 1)
    assert markers.mule_accounts == markers.other_frauds == markers.unknown_frauds
    assert markers.mule_accounts == Periods(0, 0, 0)
    assert markers.distinct_fraud_reporters == Periods(1, 1, 1)  # the sandbox reports all
    assert markers.total_fraud_transaction_amount == Periods(0, 0, 0)
    assert now.active_markers == 3 and now.marked and not now.blocked

    clock.advance(days=300)  # the first is 400 days old, the others 300
    later = dict_.owner_security(document)
    assert later.fraud_markers.scammer_accounts == Periods(d90=0, m12=1, m60=2)
    assert later.fraud_markers.distinct_fraud_reporters == Periods(0, 1, 1)
    clock.advance(days=5 * 366)  # older than every period, and still in force
    oldest = dict_.owner_security(document)
    assert oldest.fraud_markers.scammer_accounts == Periods(0, 0, 0)
    assert oldest.active_markers == 3 and oldest.marked


def test_a_removed_marker_no_longer_counts(
    dict_: SimulatedDictSecurity, container: Container
) -> None:
    owner = new_owner()
    key = new_key(container, owner)
    first = dict_.add_marker(FraudType.MULE_ACCOUNT, key=key)
    second = dict_.add_marker(FraudType.MULE_ACCOUNT, key=key)
    assert key_info(dict_, key).key.fraud_markers.mule_accounts == Periods(2, 2, 2)
    dict_.remove_marker(first.id)
    one_left = key_info(dict_, key)
    assert one_left.key.fraud_markers.mule_accounts == Periods(1, 1, 1)
    assert one_left.key.active_markers == one_left.owner.active_markers == 1
    dict_.remove_marker(second.id)
    clean = key_info(dict_, key)
    assert not clean.key.marked and not clean.owner.marked
    assert clean.key.fraud_markers.distinct_fraud_reporters == Periods(0, 0, 0)
    for gone in (first.id, str(uuid.uuid4())):  # removed already, or never there
        with pytest.raises(NotFound):
            dict_.remove_marker(gone)


def test_a_keys_owner_counts_the_markers_on_every_key_and_on_the_document(
    dict_: SimulatedDictSecurity, container: Container
) -> None:
    owner = new_owner()
    marked, clean = new_key(container, owner), new_key(container, owner)
    dict_.add_marker(FraudType.MULE_ACCOUNT, key=marked)
    dict_.add_marker(FraudType.OTHER, document=owner.document)
    dict_.add_marker(FraudType.UNKNOWN, key=owner.document)  # the owner's CPF key

    on_marked = key_info(dict_, marked)
    assert on_marked.owner_document == owner.document
    assert on_marked.key.active_markers == 1
    assert on_marked.key.fraud_markers.mule_accounts == Periods(1, 1, 1)
    on_clean = key_info(dict_, clean)
    assert not on_clean.key.marked
    assert on_clean.owner == on_marked.owner == dict_.owner_security(owner.document)
    by_owner = on_clean.owner.fraud_markers
    assert (by_owner.mule_accounts, by_owner.other_frauds, by_owner.unknown_frauds) == (
        Periods(1, 1, 1),
        Periods(1, 1, 1),
        Periods(1, 1, 1),
    )
    assert on_clean.owner.active_markers == 3
    # A CPF key is its owner's document: its own markers, and its owner's.
    cpf_key = key_info(dict_, owner.document)
    assert cpf_key.owner_document == owner.document
    assert cpf_key.key.active_markers == 1 and cpf_key.owner.active_markers == 3
    # Nobody else's statistics move.
    assert not dict_.owner_security(new_cpf()).marked


def test_an_unregistered_cpf_key_is_its_own_owner_and_an_unknown_email_is_nothing(
    dict_: SimulatedDictSecurity,
) -> None:
    document = new_cpf()
    dict_.add_marker(FraudType.SCAMMER_ACCOUNT, key=document)
    found = key_info(dict_, document)
    assert found.owner_document == document
    assert found.key.marked and found.owner.marked
    assert dict_.key_security(PixKeyType.EMAIL, f"{uuid.uuid4().hex}@example.com") is None


def test_settlements_received_are_counted_by_account_and_by_document(
    dict_: SimulatedDictSecurity, container: Container
) -> None:
    owner = new_owner()
    key = new_key(container, owner)
    elsewhere = Creditor(
        owner.name, owner.document, "18236120", "0001", "9901", AccountType.PAYMENT
    )  # a magic account SPI rejects: never settled

    def pay(creditor: Creditor) -> RailState:
        e2e = end_to_end_id(ISPB, container.clock.now(), str(uuid.uuid4()))
        order = PaymentOrder(str(uuid.uuid4()), e2e, 10_00, ISPB, creditor)
        return container.network.submit(order).state

    assert [pay(owner), pay(owner), pay(elsewhere)] == [
        RailState.SETTLED,
        RailState.SETTLED,
        RailState.REJECTED,
    ]
    found = key_info(dict_, key)
    assert found.key.settlements == Periods(2, 2, 2)
    assert found.owner.settlements == Periods(2, 2, 2)
    assert dict_.owner_security(new_cpf()).settlements == Periods(0, 0, 0)


def test_a_key_whose_account_spi_refuses_as_blocked_is_blocked(
    dict_: SimulatedDictSecurity, container: Container
) -> None:
    demo = key_info(dict_, "ac06@sandbox.connectpsp.dev")
    assert demo.key.blocked and not demo.owner.blocked  # an account is blocked, not a person
    owner = new_owner()
    assert key_info(dict_, new_key(container, owner, ReasonCode.AC06)).key.blocked
    magic = Creditor("Ana", owner.document, "00000000", "0002", "9902", AccountType.CHECKING)
    container.network.register(PixKeyType.PHONE, "+5521900009902", magic)
    assert key_info(dict_, "+5521900009902").key.blocked
    for clean in ("maria.silva@sandbox.connectpsp.dev", "ac03@sandbox.connectpsp.dev"):
        assert not key_info(dict_, clean).key.blocked, clean


def test_the_magic_values_carry_their_markers(dict_: SimulatedDictSecurity) -> None:
    field = {
        FraudType.APPLICATION_FRAUD: "application_frauds",
        FraudType.MULE_ACCOUNT: "mule_accounts",
        FraudType.SCAMMER_ACCOUNT: "scammer_accounts",
        FraudType.OTHER: "other_frauds",
        FraudType.UNKNOWN: "unknown_frauds",
    }
    for demo in DEMO_MARKERS:
        if demo.key is not None:
            info = key_info(dict_, demo.key).key
        else:
            assert demo.document is not None
            info = dict_.owner_security(demo.document)
        assert info.active_markers == 1, demo
        assert getattr(info.fraud_markers, field[demo.type]).d90 == 1, demo
    # Every key of one owner is marked, one marker of each key counted on the owner.
    theirs = [k for k in MARKED_KEYS if k.owner.document == EVERY_KEY_MARKED.document]
    assert len(theirs) == 4
    for entry in theirs:
        found = key_info(dict_, entry.key)
        assert found.key.marked and found.owner_document == EVERY_KEY_MARKED.document
        assert found.owner.active_markers == 4
    # The mule's key has no marker of its own; its owner's document has one.
    mule = key_info(dict_, "mule@sandbox.connectpsp.dev")
    assert not mule.key.marked and mule.owner.marked
    assert mule.owner.fraud_markers.mule_accounts.d90 == 1 and mule.owner_document == MULE.document
    # The tutorial's payees are clean.
    for document in ("12345678909", "11222333000181", "98765432100"):
        assert not dict_.owner_security(document).marked, document
    assert not key_info(dict_, "maria.silva@sandbox.connectpsp.dev").key.marked


def test_the_cache_the_checks_read_is_emptied_by_every_sandbox_change(
    container: Container,
) -> None:
    owner = new_owner()
    key = f"k{uuid.uuid4().hex[:12]}@example.com"
    cached = container.dict_security
    assert cached.key_security(PixKeyType.EMAIL, key) is None
    container.sandbox_dict.register_key(PixKeyType.EMAIL, key, owner)
    found = cached.key_security(PixKeyType.EMAIL, key)
    assert found is not None and not found.key.marked
    marker = container.sandbox_fraud_markers.add(key=key)
    found = cached.key_security(PixKeyType.EMAIL, key)
    assert found is not None and found.key.marked and found.owner.marked
    assert cached.owner_security(owner.document).marked
    container.sandbox_fraud_markers.remove(marker.id)
    found = cached.key_security(PixKeyType.EMAIL, key)
    assert found is not None and not found.key.marked
    assert not cached.owner_security(owner.document).marked


def test_infraction_reports_count_the_med_reports_against_our_clients_receipts(
    dict_: SimulatedDictSecurity, container: Container, clock: FakeClock
) -> None:
    document = new_cpf()
    made = container.clients.create("Receiver", document=document)
    client = container.clients.get(made.client_id)
    key = f"r{uuid.uuid4().hex[:12]}@example.com"
    container.pix_keys.register(client, PixKeyType.EMAIL, key, str(uuid.uuid4()))
    evp = container.pix_keys.register(client, PixKeyType.EVP, None, str(uuid.uuid4())).key
    received = [container.sandbox_payer.pay(pix_key=key, amount=10_00) for _ in range(4)]
    cached = container.dict_security

    def reports(open_: int, rejected: Periods) -> None:
        """What the checks read (through the cache) and DICT itself, for both keys of
        the account and for the client's document, all agree on."""
        wanted = InfractionReports(open_, min(open_, 1), rejected)
        for security in (cached, dict_):
            for each in (key, evp):
                found = security.key_security(key_type_of(each), each)
                assert found is not None and found.owner_document == document
                assert found.key.infraction_reports == wanted, (each, security)
                assert found.owner.infraction_reports == wanted, (each, security)
            assert security.owner_security(document).infraction_reports == wanted

    none = Periods(0, 0, 0)
    reports(0, none)  # and the cache now remembers it
    first, second, third = (container.infractions.report(e2e) for e2e in received[:3])
    reports(3, none)
    container.infractions.reject(first.id, by="ops", reason="the payer's own mistake")
    reports(2, Periods(1, 1, 1))
    container.infractions.accept(second.id, by="ops")  # accepted: neither open nor rejected
    reports(1, Periods(1, 1, 1))
    clock.advance(days=100)
    container.infractions.reject(third.id, by="ops", reason="not a fraud")
    reports(0, Periods(d90=1, m12=2, m60=2))
    # The deadline's decision (the default: accept), made by the worker's step.
    container.infractions.report(received[3])
    reports(1, Periods(1, 2, 2))
    clock.advance(days=8)
    reports(1, Periods(1, 2, 2))  # past its deadline, undecided yet: remembered so
    assert container.infractions.decide_due() >= 1
    reports(0, Periods(1, 2, 2))
    # Nobody else's reports move: another person, a key of another bank's account.
    assert dict_.owner_security(new_cpf()).infraction_reports == InfractionReports(0, 0, none)
    elsewhere = key_info(dict_, "maria.silva@sandbox.connectpsp.dev")
    assert elsewhere.key.infraction_reports == InfractionReports(0, 0, none)


def marker_rows(container: Container) -> int:
    with container.db.transaction(write=False) as tx:
        return int(
            tx.conn.execute(select(func.count()).select_from(t.sandbox_fraud_markers)).scalar_one()
        )


def test_installing_the_magic_values_again_adds_nothing_and_a_removed_one_stays_removed(
    dict_: SimulatedDictSecurity, container: Container
) -> None:
    # Last in this module: it removes a magic marker for good.
    scammer = DEMO_MARKERS[0]
    assert scammer.key == "scammer@sandbox.connectpsp.dev"
    dict_.remove_marker(scammer.id)
    before = marker_rows(container)
    dict_.install_demo_markers()
    assert marker_rows(container) == before
    assert not key_info(dict_, scammer.key).key.marked
