"""The console's SQL storage on both databases: operators (one per email), sessions by
digest, the audit log's rows and their outcome, and the dashboard's reads of today."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from connectpsp.adapters.storage.operators import SqlOperatorStore
from connectpsp.bootstrap import Container
from connectpsp.domain.clock import SAO_PAULO
from connectpsp.domain.errors import StorageConflict
from connectpsp.domain.operators import AuditEntry, Operator

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def operator(email: str | None = None) -> Operator:
    return Operator(
        id=str(uuid.uuid4()),
        email=email or f"{uuid.uuid4().hex[:10]}@example.com",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        active=True,
        created_at=T0,
    )


def test_one_operator_per_email(container: Container) -> None:
    store = SqlOperatorStore(container.db)
    first = operator()
    store.add(first)
    with pytest.raises(StorageConflict):
        store.add(operator(first.email))
    assert store.by_email(first.email) == first
    assert store.by_email("nobody@example.com") is None
    assert first in store.listed()


def test_a_session_is_found_by_its_digest_touched_and_closed(container: Container) -> None:
    store = SqlOperatorStore(container.db)
    who = operator()
    store.add(who)
    digest = uuid.uuid4().hex * 2
    store.open_session(digest, who.id, now=T0, expires_at=T0 + timedelta(hours=8))
    assert store.session(digest) == (who, T0, T0 + timedelta(hours=8))
    store.touch_session(digest, T0 + timedelta(minutes=5))
    assert store.session(digest) == (who, T0 + timedelta(minutes=5), T0 + timedelta(hours=8))
    store.close_session(digest)
    assert store.session(digest) is None


def test_ended_sessions_are_closed_by_housekeeping(container: Container) -> None:
    store = SqlOperatorStore(container.db)
    who = operator()
    store.add(who)
    idle, old, fresh = (uuid.uuid4().hex * 2 for _ in range(3))
    store.open_session(idle, who.id, now=T0, expires_at=T0 + timedelta(hours=8))
    store.open_session(old, who.id, now=T0, expires_at=T0 + timedelta(hours=8))
    store.touch_session(old, T0 + timedelta(hours=7, minutes=59))
    later = T0 + timedelta(hours=2)
    store.open_session(fresh, who.id, now=later, expires_at=later + timedelta(hours=8))
    assert store.close_sessions(idle_since=T0 + timedelta(hours=1), begun_before=T0) == 2
    assert store.session(fresh) is not None
    assert store.session(idle) is None and store.session(old) is None


def test_the_audit_log_keeps_before_and_after_and_pages_newest_first(
    container: Container,
) -> None:
    store = SqlOperatorStore(container.db)
    who = operator()
    store.add(who)
    subject = str(uuid.uuid4())
    ids = [
        store.audit(
            AuditEntry(
                id=None,
                at=T0 + timedelta(seconds=n),
                operator_id=who.id,
                operator_email=who.email,
                action="infraction.accept",
                subject_kind="infraction",
                subject_id=subject,
                before={"status": "OPEN", "blocked": 800, "n": n},
                after=None,
                outcome="started",
                source="127.0.0.1",
            )
        )
        for n in range(3)
    ]
    assert ids == sorted(ids)
    store.audit_outcome(ids[2], "done", {"status": "ACCEPTED", "blocked": 800}, None)
    store.audit_outcome(ids[1], "refused", None, "ILLEGAL_TRANSITION: " + "x" * 400)
    newest = store.audit_log(limit=3)
    assert [e.id for e in newest] == ids[::-1]
    assert newest[0].before == {"status": "OPEN", "blocked": 800, "n": 2}
    assert (newest[0].after, newest[0].outcome) == ({"status": "ACCEPTED", "blocked": 800}, "done")
    assert newest[0].at == T0 + timedelta(seconds=2)
    assert (newest[1].outcome, len(newest[1].detail or "")) == ("refused", 300)
    assert (newest[2].outcome, newest[2].after) == ("started", None)
    assert [e.id for e in store.audit_log(limit=10, before_id=ids[1])][:1] == [ids[0]]


def test_the_dashboard_counts_today_in_sao_paulo(container: Container) -> None:
    from tests.support import FakeClock

    clock = container.clock
    assert isinstance(clock, FakeClock)
    creds = container.clients.create(f"dash-{uuid.uuid4().hex[:6]}")
    container.clients.fund(creds.client_id, 100_00)
    before = container.overview.overview()
    now_local = clock.now().astimezone(SAO_PAULO)
    assert before.day == now_local.date()
    assert before.settlement.count >= 0 and before.open_infractions >= 0
    # Tomorrow in São Paulo, nothing of today counts.
    midnight = datetime.combine(now_local.date() + timedelta(days=1), datetime.min.time())
    clock.advance(seconds=(midnight.replace(tzinfo=SAO_PAULO) - clock.now()).total_seconds() + 1)
    try:
        tomorrow = container.overview.overview()
        assert tomorrow.day == now_local.date() + timedelta(days=1)
        assert tomorrow.cash_outs.count == 0 and tomorrow.cash_ins.amount == 0
    finally:
        clock.offset = timedelta()
