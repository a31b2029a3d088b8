"""The simulated DICT's security information (``service.security.DictSecurity``) and its
fraud markers (``service.sandbox.FraudMarkerRegistry``), beside the simulated network.

What it counts, over the last 90 days, 12 months and 60 months:
- fraud markers in force (removed ones no longer count), by type, from when they were
  created: a key's are the markers on that key; a person's are the markers on their
  document and on every key they own (their registered keys, and their CPF/CNPJ key);
- ``distinctFraudReporters``: 1 while any marker counts, since every sandbox marker is
  reported by one participant, the sandbox;
- settlements received: SPI payments settled by now to the key's account, or to the
  person's document;
- ``totalFraudTransactionAmount`` stays 0: a sandbox marker is tied to no transaction;
- infraction reports: the MED reports against Pix received by the account the key points
  to (when the key is one of our clients', the client's one account with us), or by our
  clients with the person's document. ``openReports`` counts the OPEN ones now, and
  ``openReportsDistinctReporters`` is 1 while any is (the sandbox reports them all);
  ``rejectedReports`` counts the REJECTED ones by when they were decided. Only our
  clients receive reports: any other account has none.

A key's ``blocked`` is whether SPI rejects payments to its account as AC06 (account
blocked): the magic account 9902 and the ``ac06@`` demo key's. A person is never blocked:
an account is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, case, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from connectpsp.adapters.rails.simulated import DictKey, SimulatedPixNetwork
from connectpsp.adapters.storage import schema as t
from connectpsp.adapters.storage.db import Database, Transaction, upsert
from connectpsp.domain.cashout import Creditor
from connectpsp.domain.clock import Clock
from connectpsp.domain.errors import NotFound
from connectpsp.domain.ids import new_id
from connectpsp.domain.infractions import InfractionStatus
from connectpsp.domain.pix import AccountType, PixKeyType
from connectpsp.domain.spi import ReasonCode
from connectpsp.service.rail import RailState
from connectpsp.service.security import (
    FraudMarker,
    FraudMarkers,
    FraudType,
    InfractionReports,
    KeySecurity,
    Periods,
    SecurityInfo,
    count_periods,
    period_starts,
)

__all__ = ["DEMO_MARKERS", "MARKED_KEYS", "DemoMarker", "SimulatedDictSecurity"]

_NONE = Periods(0, 0, 0)


def _owner(name: str, document: str, account: str) -> Creditor:
    return Creditor(name, document, "18236120", "0001", account, AccountType.PAYMENT)


# Whose keys carry markers from the start (docs/sandbox.md, "Fraud markers").
SCAMMER = _owner("Paulo Mendes", "40815629974", "310000001")
EVERY_KEY_MARKED = _owner("Rita Alves", "70538122439", "310000002")
MULE = _owner("Jorge Lima", "28643179582", "310000003")

# Keys registered with the demo keys, for the markers below.
MARKED_KEYS: list[DictKey] = [
    DictKey(PixKeyType.EMAIL, "scammer@sandbox.connectpsp.dev", SCAMMER),
    DictKey(PixKeyType.CPF, EVERY_KEY_MARKED.document, EVERY_KEY_MARKED),
    DictKey(PixKeyType.EMAIL, "marked.owner@sandbox.connectpsp.dev", EVERY_KEY_MARKED),
    DictKey(PixKeyType.PHONE, "+5511988880000", EVERY_KEY_MARKED),
    DictKey(PixKeyType.EVP, "3b8e5c1d-9f2a-4d6b-8e7c-1a2b3c4d5e6f", EVERY_KEY_MARKED),
    # No marker of its own: its owner's document carries one.
    DictKey(PixKeyType.EMAIL, "mule@sandbox.connectpsp.dev", MULE),
]


@dataclass(frozen=True)
class DemoMarker:
    """A marker the sandbox starts with, on a key or on a document."""

    type: FraudType
    key: str | None = None
    document: str | None = None

    @property
    def id(self) -> str:
        """The same in every database, so installing it again adds nothing."""
        subject = self.key or self.document
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"connectpsp:sandbox-marker:{subject}"))


DEMO_MARKERS: list[DemoMarker] = [
    DemoMarker(FraudType.SCAMMER_ACCOUNT, key="scammer@sandbox.connectpsp.dev"),
    DemoMarker(FraudType.SCAMMER_ACCOUNT, key=EVERY_KEY_MARKED.document),
    DemoMarker(FraudType.APPLICATION_FRAUD, key="marked.owner@sandbox.connectpsp.dev"),
    DemoMarker(FraudType.OTHER, key="+5511988880000"),
    DemoMarker(FraudType.UNKNOWN, key="3b8e5c1d-9f2a-4d6b-8e7c-1a2b3c4d5e6f"),
    DemoMarker(FraudType.MULE_ACCOUNT, document=MULE.document),
]


@dataclass(frozen=True)
class _Marked:
    type: FraudType
    created_at: datetime


class SimulatedDictSecurity:
    """DICT's security statistics over the simulated network's keys and payments, and the
    sandbox's fraud markers (in ``sandbox_fraud_markers``)."""

    def __init__(self, network: SimulatedPixNetwork, db: Database, *, clock: Clock) -> None:
        self._network = network
        self._db = db
        self._clock = clock

    # DictSecurity ---------------------------------------------------------------------

    def key_security(self, key_type: PixKeyType, key: str) -> KeySecurity | None:
        creditor = self._network.lookup(key_type, key)
        if creditor is None:
            return None
        blocked = self._network.rejection_for(creditor) == ReasonCode.AC06.value
        now = self._clock.now()
        m, p = t.sandbox_fraud_markers.c, t.sandbox_spi_payments.c
        k, own_keys = t.sandbox_dict_keys.c, t.pix_keys.c
        # The client whose key this is, if it is one of ours in DICT: its keys all point
        # to its one account with us (``OwnKeys``).
        account_holder = (
            select(own_keys.client_id)
            .join(t.sandbox_dict_keys, k.key == own_keys.key)
            .where(own_keys.key == key)
        )
        with self._db.transaction(write=False) as tx:
            own = _info(
                self._markers(tx, m.key == key),
                self._settlements(
                    tx,
                    now,
                    (p.creditor_ispb == creditor.ispb)
                    & (p.creditor_branch == creditor.branch)
                    & (p.creditor_account == creditor.account),
                ),
                self._reports(tx, now, account_holder),
                blocked=blocked,
                now=now,
            )
            owner = self._owner_info(tx, creditor.document, now)
        return KeySecurity(own, owner, creditor.document)

    def owner_security(self, document: str) -> SecurityInfo:
        now = self._clock.now()
        with self._db.transaction(write=False) as tx:
            return self._owner_info(tx, document, now)

    def _owner_info(self, tx: Transaction, document: str, now: datetime) -> SecurityInfo:
        m, k, p = t.sandbox_fraud_markers.c, t.sandbox_dict_keys.c, t.sandbox_spi_payments.c
        owned_keys = select(k.key).where(k.owner_document == document).scalar_subquery()
        markers = self._markers(
            tx, or_(m.document == document, m.key == document, m.key.in_(owned_keys))
        )
        settled = self._settlements(tx, now, p.creditor_document == document)
        c = t.clients.c
        # A client registered without a document is nobody's by document.
        clients = select(c.id).where(c.document == document, c.document != "")
        return _info(markers, settled, self._reports(tx, now, clients), blocked=False, now=now)

    @staticmethod
    def _markers(tx: Transaction, subject: ColumnElement[bool]) -> list[_Marked]:
        m = t.sandbox_fraud_markers.c
        rows = tx.conn.execute(
            select(m.type, m.created_at).where(subject, m.removed_at.is_(None))
        ).all()
        return [_Marked(FraudType(row.type), row.created_at) for row in rows]

    @staticmethod
    def _settlements(tx: Transaction, now: datetime, to: ColumnElement[bool]) -> Periods:
        p = t.sandbox_spi_payments.c
        d90, m12, m60 = (func.count(case((p.settle_at >= s, 1))) for s in period_starts(now))
        row = tx.conn.execute(
            select(d90, m12, m60).where(
                to, p.outcome == RailState.SETTLED.value, p.settle_at <= now
            )
        ).one()
        return Periods(int(row[0]), int(row[1]), int(row[2]))

    @staticmethod
    def _reports(tx: Transaction, now: datetime, clients: Select[tuple[str]]) -> InfractionReports:
        """The MED reports against Pix received by ``clients``."""
        i = t.med_infractions.c
        rows = tx.conn.execute(
            select(i.status, i.decided_at).where(i.client_id.in_(clients), i.reported_at <= now)
        ).all()
        still_open = sum(row.status == InfractionStatus.OPEN.value for row in rows)
        rejected = (row.decided_at for row in rows if row.status == InfractionStatus.REJECTED.value)
        return InfractionReports(
            open_reports=still_open,
            # The sandbox is the one participant that reports them.
            open_reports_distinct_reporters=min(still_open, 1),
            rejected_reports=count_periods(rejected, now),
        )

    # FraudMarkerRegistry --------------------------------------------------------------

    def add_marker(
        self, marker_type: FraudType, *, key: str | None = None, document: str | None = None
    ) -> FraudMarker:
        marker = FraudMarker(new_id(), key, document, marker_type, self._clock.now())
        with self._db.transaction(write=True) as tx:
            tx.conn.execute(
                insert(t.sandbox_fraud_markers).values(
                    id=marker.id,
                    key=key,
                    document=document,
                    type=marker_type.value,
                    created_at=marker.created_at,
                )
            )
            tx.commit()
        return marker

    def remove_marker(self, marker_id: str) -> None:
        m = t.sandbox_fraud_markers.c
        with self._db.transaction(write=True) as tx:
            removed = tx.conn.execute(
                update(t.sandbox_fraud_markers)
                .where(m.id == marker_id, m.removed_at.is_(None))
                .values(removed_at=self._clock.now())
            ).rowcount
            tx.commit()
        if not removed:
            raise NotFound(f"No fraud marker {marker_id}.")

    def install_demo_markers(self) -> None:
        """The marked demo keys and their markers; a marker removed since stays removed."""
        self._network.install_keys(MARKED_KEYS)
        now = self._clock.now()
        with self._db.transaction(write=True) as tx:
            for demo in DEMO_MARKERS:
                tx.conn.execute(
                    upsert(tx.conn, t.sandbox_fraud_markers)
                    .values(
                        id=demo.id,
                        key=demo.key,
                        document=demo.document,
                        type=demo.type.value,
                        created_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["id"])
                )
            tx.commit()


def _info(
    markers: list[_Marked],
    settled: Periods,
    reports: InfractionReports,
    *,
    blocked: bool,
    now: datetime,
) -> SecurityInfo:
    def of(kind: FraudType) -> Periods:
        return count_periods((x.created_at for x in markers if x.type is kind), now)

    counted = count_periods((x.created_at for x in markers), now)
    return SecurityInfo(
        FraudMarkers(
            application_frauds=of(FraudType.APPLICATION_FRAUD),
            mule_accounts=of(FraudType.MULE_ACCOUNT),
            scammer_accounts=of(FraudType.SCAMMER_ACCOUNT),
            other_frauds=of(FraudType.OTHER),
            unknown_frauds=of(FraudType.UNKNOWN),
            total_fraud_transaction_amount=_NONE,
            # The sandbox is the one participant that reports its markers.
            distinct_fraud_reporters=Periods(
                min(counted.d90, 1), min(counted.m12, 1), min(counted.m60, 1)
            ),
        ),
        reports,
        settlements=settled,
        active_markers=sum(x.created_at <= now for x in markers),
        blocked=blocked,
    )
